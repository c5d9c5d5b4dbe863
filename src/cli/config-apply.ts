import type { Command } from 'commander';
import { request } from 'undici';
import { loadClusterConfig } from '../config/load.js';
import { renderModelsToml, renderServersToml } from '../config/render.js';
import { CONFIG_PATH, configChangeSchema, type ConfigApplyRequest, type ConfigChange } from '../coordinator/config-schema.js';
import { CascadeError, describeError, isErrorCode, parseErrorBody } from '../shared/errors.js';
import { createAgent, loadTlsMaterial } from '../shared/tls.js';
import { checkHttpUrl, collect, resolveToken } from './options.js';

/** Generous, because the coordinator only validates and stores; engines load afterwards. */
const APPLY_TIMEOUT_MS = 30_000;

interface ApplyFlags {
  config: string[];
  coordinator: string;
  token?: string;
  tlsCa?: string;
}

/** Adds `cascade config apply` to the `config` command. */
export function registerConfigApply(config: Command): void {
  config
    .command('apply')
    .description('Send new TOML files to a running coordinator: engines load, swap or unload models without a restart')
    .requiredOption('-c, --config <path>', 'TOML file or folder of TOML files (repeatable)', collect, [])
    .requiredOption('--coordinator <url>', 'URL of the coordinator, for example http://10.0.0.10:8080 (or CASCADE_COORDINATOR)', process.env.CASCADE_COORDINATOR)
    .option('--token <secret>', 'cluster token (default: CASCADE_TOKEN)')
    .option('--tls-ca <file>', 'PEM CA certificate that signed the coordinator\'s certificate, for an https URL')
    .action(async (flags: ApplyFlags) => applyConfig(flags));
}

/**
 * Validates the files here, where their paths and labels files are, then sends them
 * rendered with absolute paths and inline labels, so the coordinator needs none of them.
 */
async function applyConfig(flags: ApplyFlags): Promise<void> {
  const url = new URL(CONFIG_PATH, checkHttpUrl('--coordinator', flags.coordinator));
  const cluster = loadClusterConfig(flags.config);
  const body: ConfigApplyRequest = {
    files: [
      { name: 'servers.toml', text: renderServersToml(cluster.servers) },
      { name: 'models.toml', text: renderModelsToml(cluster) },
    ],
  };
  const token = resolveToken(flags.token);
  if (token === '') {
    throw new CascadeError('UNAUTHORIZED', 'config apply needs the cluster token: give --token or set CASCADE_TOKEN (a cluster started by cascade up keeps it in <data dir>/token, .cascade/token by default).');
  }
  const tls = loadTlsMaterial({ certFile: null, keyFile: null, caFile: flags.tlsCa ?? null });
  const agent = createAgent(tls, { connections: 1, connectTimeoutMs: 10_000 });
  try {
    const response = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(APPLY_TIMEOUT_MS),
    }).catch((error: unknown) => {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? `no response within ${APPLY_TIMEOUT_MS / 1000} s` : describeError(error);
      throw new CascadeError('COORDINATOR_UNREACHABLE', `Cannot reach the coordinator at ${url.origin} (${reason}); check --coordinator and that the coordinator runs.`, { url: url.origin });
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw replyError(url.origin, response.statusCode, text);
    const change = configChangeSchema.safeParse(parseJson(text));
    if (!change.success) throw new CascadeError('INTERNAL', `The coordinator at ${url.origin} accepted the configuration but its reply has no list of changes; coordinator and CLI versions may differ.`);
    process.stdout.write(describeChange(url.origin, change.data));
  } finally {
    await agent.close();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function replyError(origin: string, statusCode: number, text: string): CascadeError {
  const body = parseErrorBody(text);
  const code = body !== null && isErrorCode(body.code) ? body.code : null;
  if (body !== null && code !== null && code !== 'ROUTE_NOT_FOUND') return new CascadeError(code, body.message, { statusCode });
  return new CascadeError('COORDINATOR_UNREACHABLE', `The server at ${origin} returned HTTP ${statusCode} and is not a Cascade coordinator; give --coordinator the coordinator's API URL, such as http://10.0.0.10:8080.`, { statusCode });
}

function describeChange(origin: string, change: ConfigChange): string {
  const list = (ids: string[]): string => (ids.length === 0 ? 'none' : ids.join(', '));
  return `applied to ${origin}: added ${list(change.added)}; changed ${list(change.changed)}; removed ${list(change.removed)}. Engines pick up the change with their next report; GET /v1/cluster shows its progress.\n`;
}
