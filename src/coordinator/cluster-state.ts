import { createHash } from 'node:crypto';
import type { ClusterConfig, ModelConfig } from '../config/types.js';
import type { EngineRecord, ReplicaRecord, StateStore } from '../store/state-store.js';
import { CascadeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Assignment, EngineReport, ReportReply, RouteEntry, RoutingTable } from '../shared/protocol.js';
import { compactRoutingTable, type RoutingWire } from '../shared/routing-wire.js';
import { parseHostPort } from '../shared/address.js';
import type { ConfigChange } from './config-schema.js';

/** A model a new configuration moved off some servers, which keep it until it is ready elsewhere. */
interface Retiring {
  /** The model as those servers hold it, so they neither reload nor swap it. */
  model: ModelConfig;
  configHash: string;
  servers: Set<number>;
}

/** Replaced engine ids kept per server. */
const MAX_REPLACED_IDS = 16;

/** Fleets at least this large have their routing rebuilds coalesced. */
const LARGE_FLEET_ENGINES = 100;
const REBUILD_INTERVAL_MS = 250;
/** A sweep that finds more than this share of at least this many engines silent marks none down. */
const MASS_SILENCE_FRACTION = 0.5;
const MASS_SILENCE_MIN_ENGINES = 10;

/**
 * The coordinator's view of the cluster: the desired state (from the database) and
 * what each engine last reported. Reports arrive every second per engine, so liveness
 * (`lastSeen`) is kept in memory and only changes of state are written to SQLite.
 */
export class ClusterState {
  private config: ClusterConfig;
  private readonly engines = new Map<number, EngineRecord>();
  /** Per server, the ids of engines a newer engine took over from, newest last. */
  private readonly replacedEngines = new Map<number, string[]>();
  /** Engine ids whose conflict was logged, so a standby's reports do not fill the log. */
  private readonly conflictsLogged = new Set<string>();
  private readonly replicas = new Map<string, ReplicaRecord>();
  /** Model ids in `replicas` per server index, so a report looks only at its own server's replicas. */
  private readonly modelIdsByServer = new Map<number, Set<string>>();
  private readonly configHashes = new Map<string, string>();
  /**
   * Per model id: servers a new configuration took the model off, with the placement
   * they still serve. They keep it until a new parent has it ready, so a move never
   * leaves the model without a replica.
   */
  // NOTE: kept in memory only. A coordinator restarted during a move has the old servers
  // unload the model at once, so it is unavailable until a new server has it ready.
  private readonly retiring = new Map<string, Retiring>();
  private routing: RoutingTable | null = null;
  private routingDirty = true;
  private routingBuiltAt = 0;
  /** The wire form of `routing` and its JSON, made once per revision for every reply. */
  private wire: { revision: number; table: RoutingWire; json: string } | null = null;
  private revision = 0;
  private lastMassSilenceWarning = 0;
  /** Until then, a restarted coordinator waits for engines to report before pushing routes. */
  private readonly settleDeadline: number;

  constructor(
    private readonly store: StateStore,
    config: ClusterConfig,
    private readonly logger: Logger,
  ) {
    this.config = config;
    this.hashModels();
    this.restoreFromStore();
    this.settleDeadline = Date.now() + 2 * config.timing.heartbeatIntervalMs + 500;
  }

  get cluster(): ClusterConfig {
    return this.config;
  }

  /**
   * Replaces the desired cluster while the coordinator runs. Each engine gets its new
   * assignments with its next reply and loads, swaps or unloads models from there.
   * Returns the ids of the models added, changed and removed.
   */
  replaceConfig(config: ClusterConfig): ConfigChange {
    const before = this.modelFingerprints();
    this.retireMovedPlacements(config);
    this.config = config;
    this.configHashes.clear();
    this.hashModels();
    for (const serverIndex of [...this.engines.keys()]) {
      if (!config.servers.some((server) => server.index === serverIndex)) this.engines.delete(serverIndex);
    }
    this.invalidateRouting();
    const after = this.modelFingerprints();
    return {
      added: [...after.keys()].filter((id) => !before.has(id)),
      changed: [...after].filter(([id, fingerprint]) => before.has(id) && before.get(id) !== fingerprint).map(([id]) => id),
      removed: [...before.keys()].filter((id) => !after.has(id)),
    };
  }

  /** Remembers, per model that stays, the servers it leaves, with the assignment they hold now. */
  private retireMovedPlacements(next: ClusterConfig): void {
    const nextModels = new Map([next.basic, ...next.second].map((model) => [model.id, model]));
    for (const model of this.models()) {
      const stays = nextModels.get(model.id);
      if (stays === undefined) continue;
      const leaving = model.parents.filter((serverIndex) => !stays.parents.includes(serverIndex) && this.replicas.get(replicaKey(model.id, serverIndex))?.state === 'ready');
      if (leaving.length === 0) continue;
      const earlier = this.retiring.get(model.id);
      if (earlier === undefined) {
        this.retiring.set(model.id, { model, configHash: this.configHashes.get(model.id) ?? '', servers: new Set(leaving) });
      } else {
        for (const serverIndex of leaving) earlier.servers.add(serverIndex);
      }
    }
  }

  /** Ends the retirement of every model that is ready on one of its current parents. */
  private settleRetiring(): void {
    for (const [modelId, retiring] of this.retiring) {
      const model = this.models().find((candidate) => candidate.id === modelId);
      const readyOnParent = model?.parents.some((serverIndex) => this.isServing(modelId, serverIndex)) ?? true;
      if (!readyOnParent) continue;
      this.retiring.delete(modelId);
      this.invalidateRouting();
      this.logger.info({ model: modelId, servers: [...retiring.servers] }, 'model ready on its new servers; the old servers unload it');
    }
  }

  private isServing(modelId: string, serverIndex: number): boolean {
    return this.engines.get(serverIndex)?.state === 'up' && this.replicas.get(replicaKey(modelId, serverIndex))?.state === 'ready';
  }

  /** Builds, per model id, its config hash and placement, which together show whether it changed. */
  private modelFingerprints(): Map<string, string> {
    return new Map(this.models().map((model) => [model.id, `${this.configHashes.get(model.id) ?? ''}@${model.parents.join(',')}`]));
  }

  /** Records one engine report and returns what the engine should hold. */
  handleReport(report: EngineReport, now = Date.now()): ReportReply {
    const server = this.config.servers.find((candidate) => candidate.index === report.serverIndex);
    if (server === undefined) {
      const known = this.config.servers.map((candidate) => candidate.index).join(', ');
      throw new CascadeError('REQUEST_INVALID', `Server index ${report.serverIndex} is not in the cluster (known: ${known}); start the engine with --server set to one of them.`, { serverIndex: report.serverIndex });
    }
    this.rejectReplaced(report);
    this.rejectConflict(report, now);
    this.trackAddress(report);
    this.trackEngine(report, now);
    this.trackReplicas(report);
    if (this.retiring.size > 0) this.settleRetiring();
    return this.replyTo(report);
  }

  private replyTo(report: EngineReport): ReportReply {
    const assignments = this.assignmentsFor(report.serverIndex);
    const assignmentsHash = fingerprint(assignments.map((assignment) => `${assignment.model.id}:${assignment.configHash}`));
    // A table built before the other engines report again would list no replicas on them.
    // So engines keep their previous table until every engine has reported to this coordinator.
    // Engines that do not serve predictions never get one, which keeps a routing change
    // from being sent to the whole fleet.
    const routing = (report.wantsRouting ?? true) && this.routingSettled() ? this.routingWire() : null;
    return {
      ...(assignmentsHash !== report.assignmentsHash ? { assignments } : {}),
      assignmentsHash,
      ...(routing !== null && routing.revision !== report.routingRevision ? { routing } : {}),
      limits: this.config.limits,
      heartbeatIntervalMs: this.config.timing.heartbeatIntervalMs,
      loadTimeoutMs: this.config.timing.loadTimeoutMs,
      inferenceTimeoutMs: this.config.timing.inferenceTimeoutMs,
    };
  }

  /**
   * Marks engines that stopped reporting as down; called on a timer. When most engines of
   * a large fleet fall silent at once, the likelier cause is this coordinator lagging
   * behind its reports, or a network split. They are then left up and a warning is
   * logged, because marking them all down would change the table for every engine.
   */
  sweep(now = Date.now()): void {
    const limit = this.config.timing.engineDownAfterMs;
    const up = [...this.engines.values()].filter((engine) => engine.state === 'up');
    const silent = up.filter((engine) => now - engine.lastSeen > limit);
    if (silent.length === 0) return;
    if (up.length >= MASS_SILENCE_MIN_ENGINES && silent.length > up.length * MASS_SILENCE_FRACTION) {
      this.warnMassSilence(silent.length, up.length, now);
      return;
    }
    for (const engine of silent) {
      const silentMs = now - engine.lastSeen;
      this.setEngine({ ...engine, state: 'down', reason: `no report for ${silentMs} ms (limit ${limit} ms)` });
      this.logger.warn({ serverIndex: engine.serverIndex, engineId: engine.engineId, silentMs }, 'engine marked down');
    }
  }

  /**
   * Returns the routing table. In a fleet of 100 engines or more, a change rebuilds it at
   * most every 250 ms: engines change state in bursts, and each rebuild is sent to every
   * engine. Smaller clusters see every change at once.
   */
  routingTable(now = Date.now()): RoutingTable {
    const coalesce = this.engines.size >= LARGE_FLEET_ENGINES && now - this.routingBuiltAt < REBUILD_INTERVAL_MS;
    if (this.routing === null || (this.routingDirty && !coalesce)) {
      this.routing = this.buildRoutingTable();
      this.routingDirty = false;
      this.routingBuiltAt = now;
    }
    return this.routing;
  }

  /** Returns the routing table in its wire form, built once per revision. */
  routingWire(): RoutingWire {
    return this.wireForm().table;
  }

  /**
   * Serializes a reply. The routing table's JSON is made once per revision and reused
   * for every engine, instead of being serialized again in each of their replies.
   */
  serializeReply(reply: ReportReply): string {
    const { routing, ...rest } = reply;
    const head = JSON.stringify(rest);
    if (routing === undefined) return head;
    const wire = this.wireForm();
    const json = routing === wire.table ? wire.json : JSON.stringify(routing);
    return `${head.slice(0, -1)},"routing":${json}}`;
  }

  private wireForm(): { revision: number; table: RoutingWire; json: string } {
    const table = this.routingTable();
    if (this.wire?.revision !== table.revision) {
      const compact = compactRoutingTable(table);
      this.wire = { revision: table.revision, table: compact, json: JSON.stringify(compact) };
    }
    return this.wire;
  }

  private warnMassSilence(silent: number, up: number, now: number): void {
    if (now - this.lastMassSilenceWarning < 10_000) return;
    this.lastMassSilenceWarning = now;
    this.logger.warn({ silentEngines: silent, upEngines: up }, 'most engines are silent at once; not marking them down, because this coordinator may be overloaded or cut off');
  }

  /** Returns whether every engine known from before a restart has reported again. */
  allEnginesReported(): boolean {
    return [...this.engines.values()].every((engine) => engine.state !== 'joining');
  }

  /** Returns whether the routing table covers every engine, or the wait for silent ones is over. */
  routingSettled(now = Date.now()): boolean {
    return now >= this.settleDeadline || this.allEnginesReported();
  }

  listEngines(): EngineRecord[] {
    return [...this.engines.values()].sort((left, right) => left.serverIndex - right.serverIndex);
  }

  listReplicas(): ReplicaRecord[] {
    return [...this.replicas.values()];
  }

  /** Per placement (model on server): whether it is ready on an engine that is up. */
  placements(): { modelId: string; serverIndex: number; ready: boolean; state: string; reason: string }[] {
    return this.models().flatMap((model) =>
      model.parents.map((serverIndex) => {
        const replica = this.replicas.get(replicaKey(model.id, serverIndex));
        const engine = this.engines.get(serverIndex);
        const engineUp = engine?.state === 'up';
        const state = replica?.state ?? 'pending';
        const reason = !engineUp ? `engine of server ${serverIndex} is ${engine?.state ?? 'not yet seen'}` : (replica?.reason ?? 'waiting for the engine to report it');
        return { modelId: model.id, serverIndex, ready: engineUp && state === 'ready', state, reason };
      }),
    );
  }

  models(): ModelConfig[] {
    return [this.config.basic, ...this.config.second];
  }

  private restoreFromStore(): void {
    // Nothing reported before a restart is trusted: engines count as joining and their
    // replicas as unconfirmed until each engine reports again.
    for (const engine of this.store.listEngines()) {
      this.engines.set(engine.serverIndex, { ...engine, state: 'joining', reason: 'coordinator restarted; waiting for a report', lastSeen: 0 });
    }
    for (const replica of this.store.listReplicas()) this.rememberReplica(replica);
  }

  private hashModels(): void {
    for (const model of this.models()) this.configHashes.set(model.id, fingerprint([JSON.stringify({ ...model, parents: [] })]));
  }

  private trackAddress(report: EngineReport): void {
    const { host, port } = splitAddress(report.address);
    const known = this.config.servers.find((server) => server.index === report.serverIndex);
    // Nearly every report repeats the known address; only a difference touches SQLite.
    if (known !== undefined && known.ipv4 === host && known.port === port) return;
    const changed = this.store.updateServerAddress(report.serverIndex, host, port, `engine ${report.engineId} reported address ${report.address}`);
    if (!changed) return;
    this.config = { ...this.config, servers: this.config.servers.map((server) => (server.index === report.serverIndex ? { ...server, ipv4: host, port } : server)) };
    this.invalidateRouting();
    this.logger.info({ serverIndex: report.serverIndex, address: report.address }, 'server address changed');
  }

  /**
   * Rejects a report from an engine that a newer engine took over from. Without this,
   * two engines started with the same --server would take turns at the server's address.
   */
  private rejectReplaced(report: EngineReport): void {
    if (!(this.replacedEngines.get(report.serverIndex) ?? []).includes(report.engineId)) return;
    const current = this.engines.get(report.serverIndex);
    this.logger.warn({ serverIndex: report.serverIndex, engineId: report.engineId, address: report.address, currentEngineId: current?.engineId, currentAddress: current?.address }, 'report rejected: a newer engine serves this server');
    throw new CascadeError(
      'ENGINE_REPLACED',
      `Server ${report.serverIndex} is now served by engine ${current?.engineId ?? 'unknown'} at ${current?.address ?? 'an unknown address'}, which started after this engine (${report.engineId} at ${report.address}). Stop this engine, or start it with the --server of another [Servers.N].`,
      { serverIndex: report.serverIndex, currentEngineId: current?.engineId ?? null, currentAddress: current?.address ?? null },
    );
  }

  /**
   * Rejects a second engine for a server whose engine, at another address, is alive.
   * The second one keeps reporting and takes over once the first misses two reports,
   * so it serves as a standby instead of taking turns with the first. A report from the
   * same address is a restart: the old process cannot still hold that address.
   */
  private rejectConflict(report: EngineReport, now: number): void {
    const current = this.engines.get(report.serverIndex);
    if (current === undefined || current.engineId === report.engineId || current.state !== 'up' || current.address === report.address) return;
    const silentMs = now - current.lastSeen;
    if (silentMs >= 2 * this.config.timing.heartbeatIntervalMs) return;
    if (!this.conflictsLogged.has(report.engineId)) {
      // Bounded: each restarted standby brings a new id.
      if (this.conflictsLogged.size >= 1_000) this.conflictsLogged.clear();
      this.conflictsLogged.add(report.engineId);
      this.logger.warn({ serverIndex: report.serverIndex, engineId: report.engineId, address: report.address, currentEngineId: current.engineId, currentAddress: current.address }, 'report rejected: another engine serves this server; this one waits as a standby');
    }
    throw new CascadeError(
      'ENGINE_CONFLICT',
      `Server ${report.serverIndex} is served by engine ${current.engineId} at ${current.address}, which reported ${silentMs} ms ago. This engine (${report.engineId} at ${report.address}) keeps reporting and takes over if that one stops. To run both, start this one with the --server of another [Servers.N].`,
      { serverIndex: report.serverIndex, currentEngineId: current.engineId, currentAddress: current.address },
    );
  }

  private rememberReplaced(serverIndex: number, engineId: string): void {
    const replaced = [...(this.replacedEngines.get(serverIndex) ?? []), engineId];
    // A few ids suffice: an engine that was replaced long ago has long stopped.
    this.replacedEngines.set(serverIndex, replaced.slice(-MAX_REPLACED_IDS));
  }

  private trackEngine(report: EngineReport, now: number): void {
    const previous = this.engines.get(report.serverIndex);
    const restarted = previous !== undefined && previous.engineId !== report.engineId;
    if (restarted) this.rememberReplaced(report.serverIndex, previous.engineId);
    const changed = previous === undefined || previous.state !== 'up' || restarted || previous.address !== report.address;
    const reason = engineChangeReason(previous, restarted);
    const record: EngineRecord = { serverIndex: report.serverIndex, engineId: report.engineId, address: report.address, state: 'up', reason: changed ? reason : (previous?.reason ?? reason), lastSeen: now };
    if (changed) {
      this.setEngine(record);
      this.logger.info({ serverIndex: report.serverIndex, engineId: report.engineId, address: report.address, reason }, 'engine up');
    } else {
      this.engines.set(report.serverIndex, record);
    }
  }

  private trackReplicas(report: EngineReport): void {
    const reported = new Set<string>();
    for (const replica of report.replicas) {
      reported.add(replica.modelId);
      const key = replicaKey(replica.modelId, report.serverIndex);
      const previous = this.replicas.get(key);
      const version = replica.descriptor?.version ?? null;
      if (previous !== undefined && previous.state === replica.state && previous.version === version && previous.reason === replica.reason) continue;
      const record = { modelId: replica.modelId, serverIndex: report.serverIndex, state: replica.state, reason: replica.reason, version, descriptor: replica.descriptor };
      this.store.upsertReplica(record);
      this.rememberReplica({ ...record, updatedAt: Date.now() });
      if (previous?.state !== replica.state) this.invalidateRouting();
    }
    this.dropUnreported(report.serverIndex, reported);
  }

  private rememberReplica(record: ReplicaRecord): void {
    this.replicas.set(replicaKey(record.modelId, record.serverIndex), record);
    const modelIds = this.modelIdsByServer.get(record.serverIndex) ?? new Set<string>();
    modelIds.add(record.modelId);
    this.modelIdsByServer.set(record.serverIndex, modelIds);
  }

  /**
   * Forgets the replicas a server no longer reports. Only that server's replicas are
   * looked at, so a report costs time in proportion to its own models, not to every
   * placement in the cluster.
   */
  private dropUnreported(serverIndex: number, reported: Set<string>): void {
    const modelIds = this.modelIdsByServer.get(serverIndex);
    if (modelIds === undefined) return;
    const unreported = [...modelIds].filter((modelId) => !reported.has(modelId));
    if (unreported.length === 0) return;
    for (const modelId of unreported) {
      this.replicas.delete(replicaKey(modelId, serverIndex));
      modelIds.delete(modelId);
    }
    this.store.deleteReplicasExcept(serverIndex, [...reported]);
    this.invalidateRouting();
  }

  private setEngine(record: EngineRecord): void {
    this.engines.set(record.serverIndex, record);
    this.store.upsertEngine(record);
    this.invalidateRouting();
  }

  /** Lists the models placed on a server, plus those it keeps until their new servers have them ready. */
  private assignmentsFor(serverIndex: number): Assignment[] {
    const placed = this.models()
      .filter((model) => model.parents.includes(serverIndex))
      .map((model) => ({ model, configHash: this.configHashes.get(model.id) ?? '' }));
    const moving = [...this.retiring.values()]
      .filter((retiring) => retiring.servers.has(serverIndex) && !placed.some((assignment) => assignment.model.id === retiring.model.id))
      .map((retiring) => ({ model: retiring.model, configHash: retiring.configHash }));
    // Sorted, so that keeping a model while it moves leaves the assignments hash unchanged.
    return [...placed, ...moving].sort((left, right) => left.model.id.localeCompare(right.model.id));
  }

  private invalidateRouting(): void {
    this.routingDirty = true;
  }

  private buildRoutingTable(): RoutingTable {
    // Time-based, so a restarted coordinator never reuses a revision an engine still holds.
    this.revision = Math.max(this.revision + 1, Date.now());
    const routes: Record<string, RouteEntry> = {};
    for (const model of this.models()) {
      const entry = this.routeFor(model);
      if (entry !== null) routes[model.id] = entry;
    }
    const categories: Record<string, string> = {};
    for (const model of this.config.second) {
      if (model.category !== null) categories[String(model.category)] = model.id;
    }
    return { revision: this.revision, basicModelId: this.config.basic.id, categories, routes };
  }

  /**
   * Ready replicas of a model on engines that are up, with the descriptor they reported.
   * While a moved model is not ready on any new server, its old servers still serve it.
   */
  private routeFor(model: ModelConfig): RouteEntry | null {
    const onParents = this.readyReplicas(model.id, model.parents);
    const retiring = this.retiring.get(model.id);
    const ready = onParents.length === 0 && retiring !== undefined ? this.readyReplicas(model.id, [...retiring.servers]) : onParents;
    const descriptor = ready[0]?.replica?.descriptor;
    if (descriptor === undefined || descriptor === null) return { modelId: model.id, descriptor: placeholderDescriptor(model), replicas: [] };
    const replicas = ready.flatMap(({ engine }) => (engine === undefined ? [] : [{ serverIndex: engine.serverIndex, address: engine.address }]));
    return { modelId: model.id, descriptor, replicas };
  }

  private readyReplicas(modelId: string, serverIndexes: readonly number[]): { engine: EngineRecord | undefined; replica: ReplicaRecord | undefined }[] {
    return serverIndexes
      .map((serverIndex) => ({ engine: this.engines.get(serverIndex), replica: this.replicas.get(replicaKey(modelId, serverIndex)) }))
      .filter(({ engine, replica }) => engine?.state === 'up' && replica?.state === 'ready' && replica.descriptor !== null);
  }
}

function engineChangeReason(previous: EngineRecord | undefined, restarted: boolean): string {
  if (previous === undefined) return 'first report';
  if (restarted) return 'engine restarted';
  if (previous.state !== 'up') return `reporting again after being ${previous.state}`;
  return 'address changed';
}

function fingerprint(parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

function placeholderDescriptor(model: ModelConfig): RouteEntry['descriptor'] {
  return { id: model.id, version: '', inputWidth: null, inputHeight: null, resize: model.preprocessing.resize, labels: model.labels ?? [] };
}

function replicaKey(modelId: string, serverIndex: number): string {
  return `${modelId}@${serverIndex}`;
}

/** Splits an engine's reported "host:port" into its parts, rejecting any other form. */
export function splitAddress(address: string): { host: string; port: number } {
  const parts = parseHostPort(address);
  if (parts === null) {
    throw new CascadeError('REQUEST_INVALID', `Engine address '${address}' is not host:port; start the engine with --advertise host:port.`, { address });
  }
  return parts;
}
