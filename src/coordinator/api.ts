import type { CascadePipeline } from '../pipeline/cascade.js';
import type { StateStore } from '../store/state-store.js';
import { CascadeError } from '../shared/errors.js';
import { createHttpServer, requireToken, type HttpServer } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import type { TlsMaterial } from '../shared/tls.js';
import { REPORT_PATH, type EngineReport } from '../shared/protocol.js';
import { splitAddress, type ClusterState } from './cluster-state.js';
import { engineReportSchema } from './report-schema.js';
import { registerPredictRoute } from '../pipeline/predict-route.js';
import { loadClusterConfigFromTexts } from '../config/load.js';
import type { ClusterConfig } from '../config/types.js';
import { CONFIG_PATH, configApplySchema, type ConfigChange } from './config-schema.js';

export interface CoordinatorApiDeps {
  state: ClusterState;
  store: StateStore;
  pipeline: CascadePipeline;
  logger: Logger;
  token: string;
  tls: TlsMaterial | null;
  /** False once shutdown has begun, so load balancers stop sending traffic. */
  accepting: () => boolean;
  routingSettled: () => Promise<void>;
  applyConfig: (config: ClusterConfig, source: string) => ConfigChange;
}

/** Builds the coordinator's HTTP API: prediction, health, readiness, status and engine reports. */
export async function buildCoordinatorApi(deps: CoordinatorApiDeps): Promise<HttpServer> {
  const limits = deps.state.cluster.limits;
  const app = createHttpServer({ logger: deps.logger, bodyLimitBytes: limits.maxBodyBytes, tls: deps.tls });
  requireToken(app, '/internal/', deps.token, deps.logger);
  await registerPredictRoute(app, { pipeline: deps.pipeline, limits: () => deps.state.cluster.limits, routingSettled: deps.routingSettled });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const readiness = computeReadiness(deps);
    return reply.code(readiness.ready ? 200 : 503).send(readiness);
  });
  app.get('/v1/cluster', async () => describeCluster(deps));

  app.post(CONFIG_PATH, { bodyLimit: 4 * 1024 * 1024 }, async (request) => {
    const body = configApplySchema.safeParse(request.body);
    if (!body.success) {
      throw new CascadeError('REQUEST_INVALID', `The configuration request is invalid: ${body.error.issues[0]?.message ?? 'unknown problem'}; send it with cascade config apply.`);
    }
    const config = loadClusterConfigFromTexts(body.data.files);
    return deps.applyConfig(config, `${body.data.files.map((file) => file.name).join(', ')} sent by ${request.ip}`);
  });

  app.post(REPORT_PATH, { bodyLimit: 4 * 1024 * 1024 }, async (request, reply) => {
    const report = withReachableHost(parseReport(request.body), request.ip);
    const body = deps.state.serializeReply(deps.state.handleReport(report));
    return reply.type('application/json; charset=utf-8').send(body);
  });
  return app;
}

/**
 * Ready means every placed model has at least one replica loaded and warmed up on an
 * engine that is reporting, so a load balancer can send predictions here.
 */
function computeReadiness(deps: CoordinatorApiDeps): { ready: boolean; reason: string; notReady: { modelId: string; serverIndex: number; state: string; reason: string }[] } {
  if (!deps.accepting()) return { ready: false, reason: 'shutting down', notReady: [] };
  const placements = deps.state.placements();
  // The routing table counts the old servers of a model being moved, which still serve it.
  const routes = deps.state.routingTable().routes;
  const missing = deps.state.models().filter((model) => (routes[model.id]?.replicas.length ?? 0) === 0);
  const notReady = placements.filter((placement) => !placement.ready).map(({ modelId, serverIndex, state, reason }) => ({ modelId, serverIndex, state, reason }));
  if (missing.length > 0) return { ready: false, reason: `models without a ready replica: ${missing.map((model) => model.id).join(', ')}`, notReady };
  return { ready: true, reason: 'every placed model has a ready replica', notReady };
}

function describeCluster(deps: CoordinatorApiDeps): Record<string, unknown> {
  const cluster = deps.state.cluster;
  return {
    servers: cluster.servers,
    engines: deps.state.listEngines(),
    models: deps.state.models().map((model) => ({ id: model.id, tier: model.tier, category: model.category, parents: model.parents, source: model.source })),
    placements: deps.state.placements(),
    routing: deps.state.routingTable(),
    events: deps.store.listEvents(50),
  };
}

/**
 * Replaces the host of an engine listening on every interface (0.0.0.0 or ::), which
 * cannot name its own address, with the address the report came from.
 */
function withReachableHost(report: EngineReport, remoteIp: string): EngineReport {
  const { host, port } = splitAddress(report.address);
  if (host !== '0.0.0.0' && host !== '::') return report;
  const remote = remoteIp.startsWith('::ffff:') ? remoteIp.slice('::ffff:'.length) : remoteIp;
  return { ...report, address: remote.includes(':') ? `[${remote}]:${port}` : `${remote}:${port}` };
}

function parseReport(body: unknown): EngineReport {
  const parsed = engineReportSchema.safeParse(body);
  if (!parsed.success) {
    const problem = parsed.error.issues[0];
    const where = problem === undefined ? '' : ` at ${problem.path.join('.') || 'the top level'}: ${problem.message}`;
    throw new CascadeError('REQUEST_INVALID', `The engine report is invalid${where}; engine and coordinator versions may differ.`);
  }
  return parsed.data;
}
