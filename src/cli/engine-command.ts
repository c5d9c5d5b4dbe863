import { resolve, join } from 'node:path';
import { Option, type Command } from 'commander';
import { CONFIG_DEFAULTS, defaultServerPort } from '../config/defaults.js';
import { Engine } from '../engine/engine.js';
import type { EngineSettings } from '../engine/settings.js';
import { INFERENCE_HOSTS, type InferenceHost } from '../runtime/session.js';
import { defaultSourceSettings } from '../sources/index.js';
import { createLogger } from '../shared/logger.js';
import { closeOnSignals, flushAndExit } from './lifecycle.js';
import { checkHttpUrl, parseAdvertise, parseNonNegativeInteger, parsePort, parseThreads, resolveLogLevel, resolveToken } from './options.js';
import { addTlsOptions, tlsFromFlags, type TlsFlags } from './tls-options.js';

interface EngineFlags extends TlsFlags {
  coordinator: string;
  server: number;
  host: string;
  port?: number;
  advertise?: { address: string; port: number };
  token?: string;
  dataDir: string;
  driveUrl?: string;
  threads: number;
  inference: InferenceHost;
  /** False with --no-progress; commander defaults it to true. */
  progress: boolean;
  servePredict?: boolean;
  logLevel?: string;
  pretty?: boolean;
}

export function registerEngineCommand(program: Command): void {
  const command = program
    .command('engine')
    .description('Start an engine: it joins the coordinator, loads the models placed on its server and serves them')
    .requiredOption('--coordinator <url>', 'URL of the coordinator, for example http://10.0.0.1:8080 (or CASCADE_COORDINATOR)', process.env.CASCADE_COORDINATOR)
    .requiredOption('--server <index>', 'index N of the [Servers.N] table this engine serves', parseNonNegativeInteger)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (default: the --advertise port, else 7100 + server index)', parsePort)
    .option('--advertise <host:port>', 'address the coordinator and other engines use to reach this engine (default: host:port); its port is also the listening port unless --port is given', parseAdvertise)
    .option('--token <secret>', 'cluster token (default: CASCADE_TOKEN)')
    .option('--data-dir <path>', 'folder of the model cache', CONFIG_DEFAULTS.coordinator.dataDir)
    .option('--drive-url <url>', 'base URL of the Google Drive download endpoint')
    .option('--threads <count>', 'ONNX Runtime threads per inference; 0 picks one per core', parseThreads, 0)
    .addOption(new Option('--inference <mode>', 'where ONNX Runtime runs: \'thread\' keeps HTTP and heartbeats answering during an inference, \'inline\' runs it on the main thread').choices(INFERENCE_HOSTS).default('thread'))
    .option('--no-progress', 'do not draw download progress bars (they are drawn only when stderr is a terminal)')
    .option('--serve-predict', 'also serve POST /v1/predict, routing with the table the coordinator pushes')
    .option('--log-level <level>', 'pino log level (default: CASCADE_LOG_LEVEL or info)')
    .option('--pretty', 'human-readable log lines instead of JSON');
  addTlsOptions(command).action(async (flags: EngineFlags) => runEngine(flags));
}

async function runEngine(flags: EngineFlags): Promise<void> {
  const logger = createLogger({ level: resolveLogLevel(flags.logLevel), role: `engine-${flags.server}`, pretty: flags.pretty === true });
  const engine = new Engine(toSettings(flags), logger, () => flushAndExit(logger, 1));
  closeOnSignals(() => engine.close(), logger);
  await engine.start();
}

function toSettings(flags: EngineFlags): EngineSettings {
  const sources = defaultSourceSettings(join(resolve(flags.dataDir), 'cache'));
  return {
    serverIndex: flags.server,
    host: flags.host,
    // Without --port, the engine listens on the port it advertises.
    port: flags.port ?? flags.advertise?.port ?? defaultServerPort(flags.server),
    advertiseAddress: flags.advertise?.address ?? null,
    coordinatorUrl: checkHttpUrl('--coordinator', flags.coordinator),
    token: resolveToken(flags.token),
    heartbeatIntervalMs: CONFIG_DEFAULTS.timing.heartbeatIntervalMs,
    reportTimeoutMs: 5_000,
    loadTimeoutMs: CONFIG_DEFAULTS.timing.loadTimeoutMs,
    sources: { ...sources, progress: flags.progress && process.stderr.isTTY === true, ...(flags.driveUrl !== undefined ? { driveBaseUrl: checkHttpUrl('--drive-url', flags.driveUrl) } : {}) },
    session: { intraOpThreads: flags.threads, host: flags.inference },
    maxBodyBytes: CONFIG_DEFAULTS.limits.maxBodyBytes,
    servePredict: flags.servePredict === true,
    inferenceTimeoutMs: CONFIG_DEFAULTS.timing.inferenceTimeoutMs,
    tls: tlsFromFlags(flags),
  };
}
