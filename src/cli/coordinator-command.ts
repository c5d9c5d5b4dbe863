import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_DEFAULTS } from '../config/defaults.js';
import { loadClusterConfig } from '../config/load.js';
import { Coordinator } from '../coordinator/coordinator.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { closeOnSignals } from './lifecycle.js';
import { collect, parsePort, resolveLogLevel, resolveToken } from './options.js';
import { addTlsOptions, tlsFromFlags, type TlsFlags } from './tls-options.js';

interface CoordinatorFlags extends TlsFlags {
  config: string[];
  dataDir?: string;
  host?: string;
  port?: number;
  token?: string;
  logLevel?: string;
  pretty?: boolean;
}

export function registerCoordinatorCommand(program: Command): void {
  const command = program
    .command('coordinator')
    .description('Start the coordinator: state database, public API and router')
    .option('-c, --config <path>', 'TOML file or folder of TOML files (repeatable); without it, the cluster stored in --data-dir is used', collect, [])
    .option('--data-dir <path>', `folder of the state database (default: the config's data_dir or ${CONFIG_DEFAULTS.coordinator.dataDir})`)
    .option('--host <address>', 'address of the public API (default: the config\'s, else 127.0.0.1)')
    .option('--port <port>', 'port of the public API (default: the config\'s, else 8080)', parsePort)
    .option('--token <secret>', 'cluster token engines must present (default: CASCADE_TOKEN, else one generated and stored in the data folder)')
    .option('--log-level <level>', 'pino log level (default: CASCADE_LOG_LEVEL or info)')
    .option('--pretty', 'human-readable log lines instead of JSON');
  addTlsOptions(command).action(async (flags: CoordinatorFlags) => runCoordinator(flags));
}

async function runCoordinator(flags: CoordinatorFlags): Promise<void> {
  const logger = createLogger({ level: resolveLogLevel(flags.logLevel), role: 'coordinator', pretty: flags.pretty === true });
  const config = flags.config.length > 0 ? loadClusterConfig(flags.config) : null;
  const dataDir = resolve(flags.dataDir ?? config?.coordinator.dataDir ?? CONFIG_DEFAULTS.coordinator.dataDir);
  const token = resolveClusterToken(resolveToken(flags.token), dataDir, logger);
  const coordinator = new Coordinator({ config, dataDir, host: flags.host ?? null, port: flags.port ?? null, token, tls: tlsFromFlags(flags), sweepIntervalMs: 500 }, logger);
  closeOnSignals(() => coordinator.close(), logger);
  await coordinator.start();
}

/**
 * Returns the cluster token and keeps it in `<dataDir>/token`, so a coordinator restarted
 * without --token still accepts the engines that joined it. A given token replaces the
 * stored one; with neither, a new token is generated.
 */
function resolveClusterToken(flagToken: string, dataDir: string, logger: Logger): string {
  const path = join(dataDir, 'token');
  const stored = existsSync(path) ? readFileSync(path, 'utf8').trim() : '';
  if (flagToken !== '') {
    if (flagToken !== stored) storeToken(path, flagToken);
    if (stored !== '' && flagToken !== stored) logger.warn({ path }, 'the cluster token differs from the stored one; stored the new token, so engines must now present it');
    return flagToken;
  }
  if (stored !== '') {
    logger.info({ path }, 'using the stored cluster token');
    return stored;
  }
  const token = randomBytes(24).toString('base64url');
  storeToken(path, token);
  logger.info({ path }, 'generated a cluster token; give it to engines with --token or CASCADE_TOKEN');
  return token;
}

function storeToken(path: string, token: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  // The mode above applies only to a new file, so an older file is restricted here.
  chmodSync(path, 0o600);
}
