import type { ClusterConfig } from '../config/types.js';
import { CascadePipeline } from '../pipeline/cascade.js';
import { RemoteExecutor } from '../pipeline/remote-executor.js';
import { StateStore } from '../store/state-store.js';
import { CascadeError } from '../shared/errors.js';
import type { HttpServer } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import { schemeFor, type TlsMaterial } from '../shared/tls.js';
import { buildCoordinatorApi } from './api.js';
import type { ConfigChange } from './config-schema.js';
import { ClusterState } from './cluster-state.js';
import { EngineClient } from '../pipeline/engine-client.js';
import { routesFrom } from '../pipeline/routes.js';

export interface CoordinatorSettings {
  /** Configuration to apply; null restarts from the cluster stored in `dataDir`. */
  config: ClusterConfig | null;
  dataDir: string;
  /** Overrides of the stored or configured API address. */
  host: string | null;
  port: number | null;
  token: string;
  /** Serve HTTPS and call engines over https; null for plain HTTP. */
  tls: TlsMaterial | null;
  /** How often engines are checked for missed reports. */
  sweepIntervalMs: number;
}

/**
 * The coordinator process: state database, cluster view, public API and the router
 * that sends images to engines.
 */
export class Coordinator {
  private store: StateStore | null = null;
  private state: ClusterState | null = null;
  private app: HttpServer | null = null;
  private client: EngineClient | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private accepting = false;
  private closing: Promise<void> | null = null;
  private listenUrl: string | null = null;

  constructor(
    private readonly settings: CoordinatorSettings,
    private readonly logger: Logger,
  ) {}

  /** Opens the database, applies or restores the cluster and listens; returns the API URL. */
  async start(): Promise<string> {
    if (this.listenUrl !== null) return this.listenUrl;
    const store = StateStore.open(this.settings.dataDir, this.logger);
    this.store = store;
    const cluster = this.resolveCluster(store);
    const state = new ClusterState(store, cluster, this.logger);
    this.state = state;
    const client = new EngineClient({ token: this.settings.token, timeoutMs: cluster.timing.inferenceTimeoutMs, connectionsPerEngine: 64, tls: this.settings.tls });
    this.client = client;
    const executor = new RemoteExecutor(client, () => state.routingTable(), this.logger);
    const pipeline = new CascadePipeline(executor, () => routesFrom(state.routingTable()));
    const settled = waitForReports(state);
    const app = await buildCoordinatorApi({
      state,
      store,
      pipeline,
      logger: this.logger,
      token: this.settings.token,
      tls: this.settings.tls,
      accepting: () => this.accepting,
      routingSettled: () => settled,
      applyConfig: (config, source) => this.applyConfig(config, source),
    });
    this.app = app;

    const host = this.settings.host ?? cluster.coordinator.host;
    const port = this.settings.port ?? cluster.coordinator.port;
    // A large fleet reconnecting at once overflows the default backlog of 511.
    await app.listen({ host, port, backlog: 4096 });
    this.accepting = true;
    this.sweepTimer = setInterval(() => state.sweep(), this.settings.sweepIntervalMs);
    this.listenUrl = `${schemeFor(this.settings.tls)}://${formatHost(host)}:${this.boundPort(port)}`;
    this.logger.info({ url: this.listenUrl, dataDir: this.settings.dataDir, servers: cluster.servers.length, models: 1 + cluster.second.length }, 'coordinator listening');
    return this.listenUrl;
  }

  /**
   * Makes `config` the desired cluster without a restart and stores it. The running
   * coordinator keeps its own [Coordinator] settings (address, data folder): they are
   * fixed while it listens.
   */
  applyConfig(config: ClusterConfig, source: string): ConfigChange {
    const { store, state } = this;
    if (store === null || state === null) throw new CascadeError('SHUTTING_DOWN', 'The coordinator is not running; start it before applying a configuration.');
    const applied: ClusterConfig = { ...config, coordinator: state.cluster.coordinator };
    store.applyConfig(applied, `configuration applied from ${source}`);
    const change = state.replaceConfig(store.loadCluster() ?? applied);
    this.client?.setTimeout(applied.timing.inferenceTimeoutMs);
    this.logger.info({ source, ...change }, 'configuration applied');
    return change;
  }

  /** Fails readiness, drains in-flight requests, then closes clients and the database. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.accepting = false;
    this.logger.info('coordinator stopping');
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    const steps: (() => Promise<void> | void)[] = [() => this.app?.close(), () => this.client?.close(), () => this.store?.close()];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        this.logger.error({ err: error }, 'coordinator shutdown step failed');
      }
    }
    this.logger.info('coordinator stopped');
  }

  private resolveCluster(store: StateStore): ClusterConfig {
    if (this.settings.config !== null) {
      store.applyConfig(this.settings.config, `configuration loaded from ${this.settings.config.sourceFiles.join(', ')}`);
      const applied = store.loadCluster();
      if (applied !== null) return applied;
    }
    const stored = store.loadCluster();
    if (stored === null) {
      throw new CascadeError('CONFIG_NOT_FOUND', `No cluster is stored in ${this.settings.dataDir} yet; start the coordinator once with --config pointing at your servers and models TOML files.`, { dataDir: this.settings.dataDir });
    }
    this.logger.info({ dataDir: this.settings.dataDir }, 'cluster restored from the state database');
    return stored;
  }

  private boundPort(fallback: number): number {
    const address = this.app?.server.address();
    return typeof address === 'object' && address !== null ? address.port : fallback;
  }
}

/**
 * After a restart the routing table is empty until engines report again, which takes
 * up to one heartbeat. Predictions arriving in that window wait for it (at most two
 * heartbeats) instead of failing with "no ready engine".
 */
async function waitForReports(state: ClusterState): Promise<void> {
  while (!state.routingSettled()) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
