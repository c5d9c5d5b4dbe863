/**
 * Simulated engines for the fleet benchmark: each one reports to the coordinator on its
 * own schedule, over its own keep-alive connection, and keeps the routing revision and
 * assignments hash from the replies as a real engine does. Nothing listens at the
 * addresses they report, and no model is loaded: an assigned model turns `ready` at once.
 */
import { deepStrictEqual } from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { z } from 'zod';
import type { ModelDescriptor } from '../src/runtime/loaded-model.js';
import { REPORT_PATH, type EngineReport, type ReplicaReport } from '../src/shared/protocol.js';

export interface SimulatorOptions {
  coordinatorUrl: string;
  token: string;
  /** Address each engine reports, by server index. */
  addresses: string[];
  /** Version (sha256 of the model file) every simulated replica reports. */
  modelVersion: string;
  intervalMs: number;
  /** Timeout of one report, from sending to the last byte of the reply, in milliseconds. */
  timeoutMs: number;
  /** Share of the engines, from 0 to 1, that serve /v1/predict and so ask for the routing table. */
  routingShare: number;
}

/** Counters and samples the simulator collected between `beginWindow()` and `endWindow()`. */
export interface WindowStats {
  seconds: number;
  reportsSent: number;
  /** Latency of each report that got a 200 reply, from sending to the last byte of the reply. */
  latenciesMs: number[];
  errors: number;
  /** The first few distinct error messages. */
  errorSamples: string[];
  /** How late each report timer fired after its due time; large values mean the simulator is saturated. */
  timerLagMs: number[];
  /** Reports not sent because the engine's previous report was still in flight. */
  skippedReports: number;
  repliesWithRouting: number;
  repliesWithAssignments: number;
  /** CPU time of the whole benchmark process, user plus system, in seconds. */
  cpuSeconds: number;
  /** Share of the window the simulator's event loop was busy, from 0 to 1. */
  eventLoopUtilization: number;
}

/** Fields of `ReportReply` the simulated engines act on; the rest is read but ignored. */
const replySchema = z.object({
  assignments: z.array(z.object({ model: z.object({ id: z.string(), labels: z.array(z.string()).nullable() }), configHash: z.string() })).optional(),
  assignmentsHash: z.string(),
  routing: z.object({ revision: z.number() }).optional(),
});

type Reply = z.infer<typeof replySchema>;

const MAX_ERROR_SAMPLES = 5;

class SimulatedEngine {
  readonly engineId = randomUUID();
  readonly startedAt = Date.now();
  routingRevision = 0;
  /** Date.now() when the engine last received a routing table. */
  routingReceivedAt = 0;
  assignmentsHash = '';
  replicas: ReplicaReport[] = [];
  /** True once a report listing the assigned replicas as ready was accepted. */
  reportedReady = false;
  inFlight: Promise<void> | null = null;
  timer: NodeJS.Timeout | null = null;
  /** performance.now() at which the next report is due. */
  nextDueAt = 0;
  stopped = false;

  constructor(
    readonly serverIndex: number,
    readonly address: string,
    readonly pool: Pool,
    readonly wantsRouting: boolean,
  ) {}
}

export class FleetSimulator {
  private readonly engines: SimulatedEngine[];
  private window = emptyWindow();
  private windowStartedAt = performance.now();
  private windowCpu = process.cpuUsage();
  private windowLoop = performance.eventLoopUtilization();
  /** performance.now() of the last reply that carried assignments or a routing table. */
  private lastChangeAt = performance.now();
  private maxRoutingReplyBytes = 0;
  private plainReplyBytes = 0;
  private leanReaderChecked = false;

  constructor(private readonly options: SimulatorOptions) {
    this.engines = options.addresses.map((address, serverIndex) => {
      const pool = new Pool(options.coordinatorUrl, { connections: 1, pipelining: 1, keepAliveTimeout: 30_000, connect: { timeout: options.timeoutMs } });
      // Spreads the engines that want routing evenly over the server indexes.
      const wantsRouting = Math.floor((serverIndex + 1) * options.routingShare) > Math.floor(serverIndex * options.routingShare);
      return new SimulatedEngine(serverIndex, address, pool, wantsRouting);
    });
  }

  /**
   * Starts every engine within one interval, as after a coordinator restart. Each engine
   * keeps its own phase, spread evenly over the interval, so reports never arrive in lockstep.
   */
  start(): void {
    const startedAt = performance.now();
    this.lastChangeAt = startedAt;
    this.engines.forEach((engine, position) => {
      engine.nextDueAt = startedAt + (position / this.engines.length) * this.options.intervalMs;
      this.schedule(engine);
    });
  }

  /**
   * True once every running engine has reported its replicas ready and no reply has
   * carried assignments or a routing table for `quietMs`, so the fleet has converged.
   */
  settled(quietMs: number): boolean {
    const running = this.engines.filter((engine) => !engine.stopped);
    return running.every((engine) => engine.reportedReady) && performance.now() - this.lastChangeAt >= quietMs;
  }

  engineIds(): string[] {
    return this.engines.map((engine) => engine.engineId);
  }

  /** Size in bytes of the largest reply with a routing table and no assignments, and of the last reply with neither. */
  replySizes(): { withRoutingBytes: number; plainBytes: number } {
    return { withRoutingBytes: this.maxRoutingReplyBytes, plainBytes: this.plainReplyBytes };
  }

  /** Returns whether every running engine that wants routing has received revision `revision`, and when the last of them received it. */
  routingConvergence(revision: number): { converged: boolean; lastReceivedAt: number } {
    const running = this.engines.filter((engine) => !engine.stopped && engine.wantsRouting);
    const converged = running.every((engine) => engine.routingRevision === revision);
    return { converged, lastReceivedAt: Math.max(...running.map((engine) => engine.routingReceivedAt)) };
  }

  beginWindow(): void {
    this.window = emptyWindow();
    this.windowStartedAt = performance.now();
    this.windowCpu = process.cpuUsage();
    this.windowLoop = performance.eventLoopUtilization();
  }

  endWindow(): WindowStats {
    const cpu = process.cpuUsage(this.windowCpu);
    const loop = performance.eventLoopUtilization(this.windowLoop);
    const seconds = (performance.now() - this.windowStartedAt) / 1000;
    return { ...this.window, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6, eventLoopUtilization: loop.utilization };
  }

  /**
   * Stops the reports of the engines at `serverIndexes`, as if their processes died,
   * and returns once their in-flight reports have completed.
   */
  async stopEngines(serverIndexes: number[]): Promise<void> {
    const stopping = serverIndexes.map((serverIndex) => this.engines[serverIndex]).filter((engine) => engine !== undefined);
    for (const engine of stopping) this.stopTimer(engine);
    await Promise.all(stopping.map((engine) => engine.inFlight));
  }

  async close(): Promise<void> {
    for (const engine of this.engines) this.stopTimer(engine);
    await Promise.all(this.engines.map((engine) => engine.inFlight));
    await Promise.all(this.engines.map((engine) => engine.pool.close()));
  }

  private stopTimer(engine: SimulatedEngine): void {
    engine.stopped = true;
    if (engine.timer !== null) clearTimeout(engine.timer);
    engine.timer = null;
  }

  private schedule(engine: SimulatedEngine): void {
    const delayMs = Math.max(0, engine.nextDueAt - performance.now());
    engine.timer = setTimeout(() => this.fire(engine), delayMs);
  }

  /**
   * Sends the report due now, unless the previous one is still in flight, and schedules
   * the next one on a fixed grid, so a slow coordinator shows up as a lower report rate
   * rather than as a drifting schedule.
   */
  private fire(engine: SimulatedEngine): void {
    const now = performance.now();
    this.window.timerLagMs.push(now - engine.nextDueAt);
    if (engine.inFlight === null) {
      engine.inFlight = this.report(engine).finally(() => {
        engine.inFlight = null;
      });
    } else {
      this.window.skippedReports += 1;
    }
    engine.nextDueAt += this.options.intervalMs;
    while (engine.nextDueAt <= now) {
      engine.nextDueAt += this.options.intervalMs;
      this.window.skippedReports += 1;
    }
    if (!engine.stopped) this.schedule(engine);
  }

  private async report(engine: SimulatedEngine): Promise<void> {
    const listedReady = engine.replicas.length > 0;
    const body = JSON.stringify(buildReport(engine));
    this.window.reportsSent += 1;
    const sentAt = performance.now();
    try {
      const response = await engine.pool.request({
        path: REPORT_PATH,
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const bytes = Buffer.from(await response.body.arrayBuffer());
      const latencyMs = performance.now() - sentAt;
      if (response.statusCode !== 200) throw new Error(`coordinator responded with ${response.statusCode}: ${bytes.toString('utf8', 0, 200)}`);
      this.window.latenciesMs.push(latencyMs);
      this.applyReply(engine, this.checkedReply(bytes), bytes.length);
      if (listedReady) engine.reportedReady = true;
    } catch (error) {
      this.recordError(error);
    }
  }

  /** Reads a reply; the first large one is also parsed whole, to prove the lean reader right. */
  private checkedReply(bytes: Buffer): Reply {
    const reply = readReply(bytes);
    if (this.leanReaderChecked || bytes.length <= FULL_PARSE_MAX_BYTES) return reply;
    this.leanReaderChecked = true;
    deepStrictEqual(reply, replySchema.parse(JSON.parse(bytes.toString('utf8'))), 'The lean reply reader disagrees with a full parse; the reply layout changed, so fix leanReplyJson.');
    return reply;
  }

  private applyReply(engine: SimulatedEngine, reply: Reply, bytes: number): void {
    if (reply.assignments !== undefined) {
      engine.assignmentsHash = reply.assignmentsHash;
      engine.replicas = reply.assignments.map((assignment) => readyReplica(assignment.model.id, assignment.model.labels ?? [], assignment.configHash, this.options.modelVersion));
      this.window.repliesWithAssignments += 1;
      this.lastChangeAt = performance.now();
    }
    if (reply.routing !== undefined) {
      engine.routingRevision = reply.routing.revision;
      engine.routingReceivedAt = Date.now();
      this.window.repliesWithRouting += 1;
      this.lastChangeAt = performance.now();
      if (reply.assignments === undefined) this.maxRoutingReplyBytes = Math.max(this.maxRoutingReplyBytes, bytes);
    }
    if (reply.assignments === undefined && reply.routing === undefined) this.plainReplyBytes = bytes;
  }

  private recordError(error: unknown): void {
    this.window.errors += 1;
    const message = error instanceof Error ? error.message : String(error);
    if (this.window.errorSamples.length < MAX_ERROR_SAMPLES && !this.window.errorSamples.includes(message)) this.window.errorSamples.push(message);
  }
}

/** Replies up to this size are parsed whole; larger ones carry a routing table. */
const FULL_PARSE_MAX_BYTES = 64 * 1024;
const ASSIGNMENTS_MARK = Buffer.from('{"assignments":');
const HASH_MARK = Buffer.from('"assignmentsHash":');
const REVISION_MARK = Buffer.from('"routing":{"revision":');

/**
 * Reads a report reply. A reply with the routing table of a large fleet is about 480 kB
 * at 1,000 engines, and parsing it whole costs about 1.2 ms. A real engine pays that on
 * its own CPU, but here one process would pay it for the whole fleet and become the
 * bottleneck. So a large reply is read only up to the table's revision, which the
 * coordinator writes near the start (it serializes `assignments`, `assignmentsHash`,
 * then `routing` with `revision` first). A reply in any other layout is parsed whole.
 */
function readReply(bytes: Buffer): Reply {
  const lean = bytes.length > FULL_PARSE_MAX_BYTES ? leanReplyJson(bytes) : null;
  return replySchema.parse(JSON.parse(lean ?? bytes.toString('utf8')));
}

/** Builds JSON of the reply's `assignments`, `assignmentsHash` and `routing.revision`; returns null when the layout differs. */
function leanReplyJson(bytes: Buffer): string | null {
  const revisionAt = bytes.indexOf(REVISION_MARK);
  const revisionEnd = revisionAt < 0 ? -1 : bytes.indexOf(',', revisionAt + REVISION_MARK.length);
  if (revisionEnd < 0) return null;
  const prefix = bytes.subarray(0, revisionEnd);
  const hashAt = prefix.indexOf(HASH_MARK);
  if (hashAt < 0) return null;
  const hashEnd = prefix.indexOf(',', hashAt + HASH_MARK.length);
  const assignments = prefix.subarray(0, ASSIGNMENTS_MARK.length).equals(ASSIGNMENTS_MARK) ? prefix.subarray(1, hashAt - 1).toString('utf8') : null;
  const hash = prefix.subarray(hashAt, hashEnd).toString('utf8');
  const revision = prefix.subarray(revisionAt, revisionEnd).toString('utf8');
  return `{${assignments === null ? '' : `${assignments},`}${hash},${revision}}}`;
}

function buildReport(engine: SimulatedEngine): EngineReport {
  return {
    engineId: engine.engineId,
    serverIndex: engine.serverIndex,
    address: engine.address,
    startedAt: engine.startedAt,
    replicas: engine.replicas,
    routingRevision: engine.routingRevision,
    assignmentsHash: engine.assignmentsHash,
    wantsRouting: engine.wantsRouting,
  };
}

/** Builds a replica as a real engine reports it once the model is loaded and warmed up. */
function readyReplica(modelId: string, labels: string[], configHash: string, version: string): ReplicaReport {
  const descriptor: ModelDescriptor = { id: modelId, version, inputWidth: 224, inputHeight: 224, resize: 'bilinear', labels };
  return { modelId, state: 'ready', reason: `version ${version.slice(0, 12)} loaded and warmed up`, configHash, descriptor };
}

function emptyWindow(): Omit<WindowStats, 'seconds' | 'cpuSeconds' | 'eventLoopUtilization'> {
  return { reportsSent: 0, latenciesMs: [], errors: 0, errorSamples: [], timerLagMs: [], skippedReports: 0, repliesWithRouting: 0, repliesWithAssignments: 0 };
}
