import { randomUUID } from 'node:crypto';
import { canConnect, parseHostPort } from '../shared/address.js';
import type { ImageLimits } from '../config/types.js';
import { CONFIG_DEFAULTS } from '../config/defaults.js';
import type { HttpServer } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import type { EngineReport, ReportReply, RoutingTable } from '../shared/protocol.js';
import { EngineClient } from '../pipeline/engine-client.js';
import { registerPredictRoute } from '../pipeline/predict-route.js';
import { routesFrom } from '../pipeline/routes.js';
import { CascadePipeline } from '../pipeline/cascade.js';
import { RemoteExecutor } from '../pipeline/remote-executor.js';
import { CascadeError } from '../shared/errors.js';
import { expandRoutingTable } from '../shared/routing-wire.js';
import { onInferenceThreadStopped } from '../runtime/session.js';
import { ModelManager } from './model-manager.js';
import { Reporter } from './reporter.js';
import { buildEngineServer } from './server.js';
import type { EngineSettings } from './settings.js';

/**
 * One engine process: an HTTP server for inference calls, the models assigned to its
 * server, and the report loop that keeps the coordinator informed and brings back
 * assignments.
 */
export class Engine {
  readonly engineId = randomUUID();
  private readonly startedAt = Date.now();
  private readonly manager: ModelManager;
  private readonly reporter: Reporter;
  private readonly app: HttpServer;
  private limits: ImageLimits = CONFIG_DEFAULTS.limits;
  private routing: RoutingTable | null = null;
  private assignmentsHash = '';
  private assignmentsReceived = false;
  private boundAddress: string | null = null;
  private closing: Promise<void> | null = null;
  private client: EngineClient | null = null;

  constructor(
    private readonly settings: EngineSettings,
    private readonly logger: Logger,
    /** Called after the engine stopped on its own, for example when another engine took over its server. */
    private readonly onStoppedOnItsOwn: () => void = () => undefined,
  ) {
    const log = logger.child({ serverIndex: settings.serverIndex, engineId: this.engineId });
    this.manager = new ModelManager({
      loadOptions: { sources: settings.sources, session: settings.session },
      loadTimeoutMs: settings.loadTimeoutMs,
      logger: log,
      onChange: () => this.reporter.reportNow(),
    });
    this.reporter = new Reporter({
      coordinatorUrl: settings.coordinatorUrl,
      token: settings.token,
      intervalMs: settings.heartbeatIntervalMs,
      timeoutMs: settings.reportTimeoutMs,
      tls: settings.tls,
      logger: log,
      buildReport: () => this.buildReport(),
      onReply: (reply) => this.applyReply(reply),
      onReplaced: (message) => this.stopReplaced(log, message),
    });
    onInferenceThreadStopped((error) => this.stopBroken(log, error));
    this.app = buildEngineServer({
      manager: this.manager,
      logger: log,
      token: settings.token,
      maxBodyBytes: settings.maxBodyBytes,
      tls: settings.tls,
      limits: () => this.limits,
      ready: () => this.readiness(),
    });
  }

  /** Listens, then starts reporting; returns the address other processes should use. */
  async start(): Promise<string> {
    if (this.boundAddress !== null) return this.boundAddress;
    if (this.settings.servePredict) await this.registerPredict();
    await this.app.listen({ host: this.settings.host, port: this.settings.port });
    const bound = this.app.server.address();
    const port = typeof bound === 'object' && bound !== null ? bound.port : this.settings.port;
    this.boundAddress = this.settings.advertiseAddress ?? `${this.settings.host}:${port}`;
    this.logger.info({ serverIndex: this.settings.serverIndex, engineId: this.engineId, address: this.boundAddress, inference: this.settings.session.host ?? 'thread' }, 'engine listening');
    if (this.settings.advertiseAddress !== null) void this.checkAdvertised(this.settings.advertiseAddress);
    this.reporter.start();
    return this.boundAddress;
  }

  /**
   * Warns when the advertised address does not reach this engine from its own machine,
   * for example --advertise 10.0.0.5:7100 with --host 127.0.0.1. Other machines would
   * get the same refusal on every call. A firewall or NAT may still make it reachable
   * from elsewhere only, so this is a warning, not a failure.
   */
  private async checkAdvertised(address: string): Promise<void> {
    const parts = parseHostPort(address);
    if (parts === null) return;
    const reachable = await canConnect(parts.host, parts.port, 2_000);
    if (reachable !== true) {
      this.logger.warn({ address, host: this.settings.host, port: this.settings.port, err: reachable }, 'the advertised address does not reach this engine from this machine; check --advertise, --host and --port');
    }
  }

  /** Stops reporting, stops accepting calls, waits for in-flight inferences, releases models. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.logger.info({ serverIndex: this.settings.serverIndex }, 'engine stopping');
    const steps = [() => this.reporter.close(), () => this.app.close(), () => this.manager.close(), () => this.client?.close()];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        this.logger.error({ err: error }, 'engine shutdown step failed');
      }
    }
    this.logger.info({ serverIndex: this.settings.serverIndex }, 'engine stopped');
  }

  private stopBroken(log: Logger, error: Error): void {
    log.fatal({ err: error }, 'the inference thread stopped; stopping the engine so that it can be restarted');
    void this.close().then(this.onStoppedOnItsOwn);
  }

  private stopReplaced(log: Logger, message: string): void {
    log.error({ reason: message }, 'another engine took over this server; stopping');
    void this.close().then(this.onStoppedOnItsOwn);
  }

  /** Serves predictions with the last routing table received, even while the coordinator is down. */
  private async registerPredict(): Promise<void> {
    const client = new EngineClient({ token: this.settings.token, timeoutMs: this.settings.inferenceTimeoutMs, connectionsPerEngine: 16, tls: this.settings.tls });
    this.client = client;
    const executor = new RemoteExecutor(client, () => this.routing, this.logger);
    const pipeline = new CascadePipeline(executor, () => {
      if (this.routing === null) throw new CascadeError('TIER1_UNAVAILABLE', 'This engine has not received a routing table from the coordinator yet; retry shortly or send the request to the coordinator.', { stage: 'tier1', retryAfterSeconds: 2 });
      return routesFrom(this.routing);
    });
    await registerPredictRoute(this.app, { pipeline, limits: () => this.limits });
  }

  private buildReport(): EngineReport {
    return {
      engineId: this.engineId,
      serverIndex: this.settings.serverIndex,
      address: this.boundAddress ?? `${this.settings.host}:${this.settings.port}`,
      startedAt: this.startedAt,
      replicas: this.manager.report(),
      routingRevision: this.routing?.revision ?? 0,
      assignmentsHash: this.assignmentsHash,
      wantsRouting: this.settings.servePredict,
    };
  }

  private applyReply(reply: ReportReply): void {
    this.limits = reply.limits;
    this.reporter.setInterval(reply.heartbeatIntervalMs);
    this.manager.setLoadTimeout(reply.loadTimeoutMs);
    this.client?.setTimeout(reply.inferenceTimeoutMs);
    if (reply.routing !== undefined) this.routing = expandRoutingTable(reply.routing);
    if (reply.assignments !== undefined) {
      this.assignmentsHash = reply.assignmentsHash;
      this.assignmentsReceived = true;
      this.manager.reconcile(reply.assignments);
    }
    this.manager.retryFailedLoads();
  }

  private readiness(): { ready: boolean; reason: string } {
    if (!this.assignmentsReceived) return { ready: false, reason: 'waiting for the first reply from the coordinator' };
    if (!this.manager.allReady()) return { ready: false, reason: 'some assigned models are not ready' };
    return { ready: true, reason: 'every assigned model is ready' };
  }
}

