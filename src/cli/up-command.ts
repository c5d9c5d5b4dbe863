import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { request } from 'undici';
import { loadClusterConfig } from '../config/load.js';
import type { ClusterConfig, ServerConfig } from '../config/types.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { canConnect } from '../shared/address.js';
import { ChildGroup, spawnCli } from './children.js';
import { closeOnSignals, flushAndExit } from './lifecycle.js';
import { collect, parsePort, resolveLogLevel } from './options.js';

interface UpFlags {
  config: string[];
  dataDir?: string;
  host?: string;
  port?: number;
  readyTimeout: number;
  logLevel?: string;
  pretty?: boolean;
}

export function registerUpCommand(program: Command): void {
  program
    .command('up')
    .description('Start a whole cluster on this machine: the coordinator and one engine per [Servers.N]')
    .option('-c, --config <path>', 'TOML file or folder of TOML files (repeatable)', collect, [])
    .option('--data-dir <path>', 'folder of the state database and model cache (default: the config\'s data_dir)')
    .option('--host <address>', 'address of the public API (default: the config\'s, else 127.0.0.1)')
    .option('--port <port>', 'port of the public API (default: the config\'s, else 8080)', parsePort)
    .option('--ready-timeout <seconds>', 'how long to wait for every model to be ready', Number, 300)
    .option('--log-level <level>', 'pino log level (default: CASCADE_LOG_LEVEL or info)')
    .option('--pretty', 'human-readable log lines (default when stderr is a terminal)')
    .action(async (flags: UpFlags) => runUp(flags));
}

async function runUp(flags: UpFlags): Promise<void> {
  const pretty = flags.pretty ?? process.stderr.isTTY;
  const logLevel = resolveLogLevel(flags.logLevel);
  const logger = createLogger({ level: logLevel, role: 'launcher', pretty });
  if (flags.config.length === 0) throw new Error('Give the cluster configuration with --config <folder or file>, for example --config examples/local.');
  const config = loadClusterConfig(flags.config);
  const dataDir = resolve(flags.dataDir ?? config.coordinator.dataDir);
  const host = flags.host ?? config.coordinator.host;
  const port = flags.port ?? config.coordinator.port;
  const coordinatorUrl = `http://${host}:${port}`;
  // One token per run: engines started here are the only ones that may join.
  const env = { CASCADE_TOKEN: randomBytes(24).toString('base64url'), CASCADE_LOG_LEVEL: logLevel };
  const common = pretty ? ['--pretty'] : [];

  await ensurePortFree(host, port, 'start this one with --port <another port>');
  const engineHosts = config.servers.map((server) => localHostFor(server, logger));
  for (const [position, server] of config.servers.entries()) {
    await ensurePortFree(engineHosts[position] ?? '127.0.0.1', server.port, `set another port in [Servers.${server.index}]`);
  }
  const group = new ChildGroup(logger, () => void group.stop().finally(() => flushAndExit(logger, 1)));
  closeOnSignals(() => group.stop(), logger);

  try {
    // Only starts until the first one listens apply the files; by then the cluster is
    // stored. A later restart restores it, which keeps what `config apply` changed and
    // survives a broken file on disk.
    let configArgs = config.sourceFiles.flatMap((file) => ['--config', file]);
    group.add('coordinator', () => spawnCli(['coordinator', ...configArgs, '--data-dir', dataDir, '--host', host, '--port', String(port), ...common], env));
    await waitFor(`${coordinatorUrl}/healthz`, 30_000, 'the coordinator to listen');
    configArgs = [];
    for (const [position, server] of config.servers.entries()) {
      const args = engineArgs(server, engineHosts[position] ?? '127.0.0.1', coordinatorUrl, dataDir).concat(common);
      group.add(`engine-${server.index}`, () => spawnCli(args, env));
    }
    await waitForReady(coordinatorUrl, flags.readyTimeout * 1000, config, logger);
  } catch (error) {
    // The children are detached: without this they would outlive the launcher.
    logger.error({ err: error }, 'cluster did not start; stopping its processes');
    await group.stop();
    throw error;
  }
}

/** A local port that accepts no connection within this time is taken as free. */
const PORT_CHECK_TIMEOUT_MS = 2_000;

/**
 * Fails early when something already listens on a port the cluster needs, typically a
 * cluster from an earlier `cascade up`, whose readiness would otherwise be mistaken for
 * this one's. `fix` names the setting that moves this cluster elsewhere.
 */
async function ensurePortFree(host: string, port: number, fix: string): Promise<void> {
  if ((await canConnect(host, port, PORT_CHECK_TIMEOUT_MS)) === true) {
    throw new Error(`Something already listens on ${host}:${port}, probably another Cascade cluster; stop it, or ${fix}.`);
  }
}

function engineArgs(server: ServerConfig, host: string, coordinatorUrl: string, dataDir: string): string[] {
  return ['engine', '--server', String(server.index), '--coordinator', coordinatorUrl, '--host', host, '--port', String(server.port), '--data-dir', dataDir];
}

/**
 * On one machine, a server whose `ipv4` is a loopback address (127.0.0.0/8) runs there;
 * any other address belongs to another machine, so its engine runs on 127.0.0.1 instead.
 */
function localHostFor(server: ServerConfig, logger: Logger): string {
  if (server.ipv4.startsWith('127.')) return server.ipv4;
  logger.warn({ serverIndex: server.index, ipv4: server.ipv4 }, 'server address is not a loopback address; its engine runs on 127.0.0.1 for this local cluster');
  return '127.0.0.1';
}

async function waitForReady(coordinatorUrl: string, timeoutMs: number, config: ClusterConfig, logger: Logger): Promise<void> {
  await waitFor(`${coordinatorUrl}/readyz`, timeoutMs, 'every model to be loaded and warmed up');
  logger.info({ url: coordinatorUrl, models: 1 + config.second.length, servers: config.servers.length }, 'cluster ready');
  process.stderr.write(`\nCascade is ready. Classify a photo with:\n  curl -F image=@examples/images/ham10000/mel/ISIC_0025744.jpg ${coordinatorUrl}/v1/predict\n\n`);
}

/** Polls a URL until it returns status 200, or throws after `timeoutMs`. */
async function waitFor(url: string, timeoutMs: number, description: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await request(url, { signal: AbortSignal.timeout(2_000) });
      await response.body.dump();
      if (response.statusCode === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${description} (${url}); see the log lines above for the cause.`);
}
