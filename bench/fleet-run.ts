/**
 * One fleet size: a real coordinator process under N simulated engines, all started
 * within one report interval, as after a coordinator restart. When that cold start does
 * not converge with the default timing, the size starts over with longer timeouts, so
 * that reports delayed by an overloaded coordinator neither get their engines marked
 * down nor get aborted before the routing table arrives. Once converged, the run checks the cluster the coordinator reports and measures its
 * CPU, memory and report latency in steady state. Last, it stops a few engines and
 * measures how long the coordinator takes to mark them down.
 */
import { CONFIG_DEFAULTS } from '../src/config/defaults.js';
import { SECOND_MODEL_COUNT } from './fleet-config.js';
import { DEFAULT_TIMING, FleetSession, SETTLED_QUIET_MS, sleep, type ClusterStatus, type FleetTiming, type SessionOptions, type WarmupResult } from './fleet-session.js';
import type { WindowStats } from './fleet-simulator.js';
import type { ProcessUsage } from './process-usage.js';
import { percentile } from './stats.js';

export interface FleetRunOptions extends SessionOptions {
  /** Length of the steady-state measurement, in seconds. */
  windowSeconds: number;
  /** How long a cold start may take to converge before the size starts over with `RELAXED_TIMING`. */
  coldStartTimeoutMs: number;
}

export interface FleetRunResult {
  engines: number;
  placements: number;
  /** Coordinator RSS after it started listening, before the first report. */
  idleRssMiB: number;
  coldStart: WarmupResult;
  /** Second cold start with `RELAXED_TIMING`, after a first that did not converge; null when none was needed. */
  relaxedStart: WarmupResult | null;
  /** Null when neither cold start converged. */
  steady: SteadyFigures | null;
  down: DownFigures | null;
}

export interface SteadyFigures {
  /** `engine_down_after_ms` of the measured coordinator. */
  engineDownAfterMs: number;
  /** Report timeout of the simulated engines, in milliseconds. */
  reportTimeoutMs: number;
  windowSeconds: number;
  targetReportsPerSecond: number;
  achievedReportsPerSecond: number;
  /** Coordinator CPU time over wall time in the window; one core is 100. */
  coordinatorCpuPercent: number;
  /** Coordinator CPU time per report that got a reply, in microseconds. */
  coordinatorCpuMicrosPerReport: number;
  rssMiB: number;
  /** Largest RSS since the coordinator started, warm-up included. */
  peakRssMiB: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  errorSamples: string[];
  skippedReports: number;
  simulatorCpuPercent: number;
  simulatorLoopBusyPercent: number;
  simulatorTimerLagP99Ms: number;
  replyBytesPlain: number;
  /** Largest reply that carried the routing table (and no assignments). */
  replyBytesWithRouting: number;
  clusterStatusBytes: number;
}

export interface DownFigures {
  downAfterMs: number;
  /** Per stopped engine: the coordinator's down event time minus the engine's last report. */
  detectionMs: number[];
  /** From the last down event until every running engine held the new routing table. */
  routingPropagationMs: number;
  /** Report latency p99 while the fleet fetched that new table. */
  afterDownP99Ms: number;
  /** Replies that carried a routing table from the first stop until the fleet held the new table. */
  repliesWithRouting: number;
}

/** Engines whose reporting stops in the down-detection check. */
const STOPPED_ENGINE_COUNT = 3;
/**
 * Timing of the second cold start. Reports delayed by an overloaded coordinator took
 * several seconds in the runs in docs/benchmarks.md. With the defaults, such engines are
 * marked down, which changes the routing table again, and their 5 s report timeout
 * aborts the reply that carries the table, so they request it again.
 */
export const RELAXED_TIMING: FleetTiming = { engineDownAfterMs: 30_000, reportTimeoutMs: 30_000 };
const RELAXED_WARMUP_TIMEOUT_MS = 180_000;

export async function runFleetSize(options: FleetRunOptions): Promise<FleetRunResult> {
  let session = await FleetSession.start(options, DEFAULT_TIMING);
  try {
    options.log(`  cold start: all ${options.engines} engines start within one report interval`);
    const coldStart = await session.warmUp(options.coldStartTimeoutMs);
    const base = { engines: options.engines, placements: options.engines * (1 + SECOND_MODEL_COUNT), idleRssMiB: session.idleUsage.rssBytes / 2 ** 20, coldStart };
    options.log(`  cold start ${describeWarmup(coldStart)}`);
    if (coldStart.converged) return { ...base, relaxedStart: null, ...(await measure(session, options)) };

    await session.close();
    session = await FleetSession.start(options, RELAXED_TIMING);
    options.log(`  starting over with engine_down_after_ms = ${RELAXED_TIMING.engineDownAfterMs} and a report timeout of ${RELAXED_TIMING.reportTimeoutMs} ms`);
    const relaxedStart = await session.warmUp(RELAXED_WARMUP_TIMEOUT_MS);
    options.log(`  second cold start ${describeWarmup(relaxedStart)}`);
    if (!relaxedStart.converged) return { ...base, relaxedStart, steady: null, down: null };
    return { ...base, relaxedStart, ...(await measure(session, options)) };
  } finally {
    await session.close();
  }
}

function describeWarmup(warmup: WarmupResult): string {
  const outcome = warmup.converged ? `converged after ${warmup.seconds.toFixed(1)} s` : `did not converge within ${warmup.seconds.toFixed(0)} s`;
  return `${outcome} (${warmup.errors} report errors, ${warmup.enginesMarkedDown} engines marked down)`;
}

async function measure(session: FleetSession, options: FleetRunOptions): Promise<{ steady: SteadyFigures; down: DownFigures }> {
  const status = await session.fetchCluster();
  session.checkConverged(status.cluster);
  options.log(`  cluster check passed: ${options.engines} engines up, ${status.cluster.placements.length} placements ready; GET /v1/cluster returned ${status.bytes} bytes`);
  await sleep(SETTLED_QUIET_MS);

  const before = session.meter.read();
  session.simulator.beginWindow();
  const windowStartUs = monotonicMicros();
  await sleep(options.windowSeconds * 1000);
  const window = session.simulator.endWindow();
  const after = session.meter.read();
  if (options.cpuProfileDir !== null) options.log(`  steady window on the monotonic clock (as in the .cpuprofile): ${windowStartUs} to ${monotonicMicros()} µs`);
  const steady = steadyFigures({ engines: options.engines, engineDownAfterMs: session.engineDownAfterMs, reportTimeoutMs: session.reportTimeoutMs, window, before, after, clusterStatusBytes: status.bytes, replySizes: session.simulator.replySizes() });

  const down = await checkDownDetection(session, options.engines);
  options.log(`  down detection: ${down.detectionMs.map((ms) => `${ms} ms`).join(', ')}; the new table reached every running engine that wants it ${down.routingPropagationMs} ms after the last down event, in ${down.repliesWithRouting} replies`);
  return { steady, down };
}

/**
 * Stops the reports of a few engines and waits for the coordinator to mark each down.
 * The delay is taken from the coordinator's own records: the down event's time minus
 * the engine's last report (`lastSeen`), both Date.now() on this machine.
 */
async function checkDownDetection(session: FleetSession, engineCount: number): Promise<DownFigures> {
  const { simulator } = session;
  const stopped = stoppedEngines(engineCount);
  simulator.beginWindow();
  await simulator.stopEngines(stopped);
  const limitMs = session.engineDownAfterMs + 15_000;
  const deadline = Date.now() + limitMs;
  let cluster: ClusterStatus = (await session.fetchCluster()).cluster;
  while (!stopped.every((serverIndex) => cluster.engines[serverIndex]?.state === 'down')) {
    if (Date.now() > deadline) throw new Error(`Stopped engines ${stopped.join(', ')} were not marked down within ${limitMs} ms.`);
    await sleep(250);
    cluster = (await session.fetchCluster()).cluster;
  }
  const downEvents = stopped.map((serverIndex) => downEventAt(cluster, serverIndex));
  const detectionMs = stopped.map((serverIndex, position) => (downEvents[position] ?? Number.NaN) - (cluster.engines[serverIndex]?.lastSeen ?? Number.NaN));
  const revision = (await session.fetchCluster()).cluster.routing.revision;
  const convergenceDeadline = Date.now() + 15_000;
  while (!simulator.routingConvergence(revision).converged) {
    if (Date.now() > convergenceDeadline) throw new Error(`Running engines did not receive routing revision ${revision} within 15 s.`);
    await sleep(100);
  }
  const routingPropagationMs = simulator.routingConvergence(revision).lastReceivedAt - Math.max(...downEvents);
  const window = simulator.endWindow();
  const latencies = [...window.latenciesMs].sort((left, right) => left - right);
  return { downAfterMs: session.engineDownAfterMs, detectionMs, routingPropagationMs, afterDownP99Ms: percentile(latencies, 0.99), repliesWithRouting: window.repliesWithRouting };
}

function stoppedEngines(engineCount: number): number[] {
  const candidates = [1, Math.floor(engineCount / 2), engineCount - 1];
  return [...new Set(candidates)].slice(0, STOPPED_ENGINE_COUNT);
}

function downEventAt(cluster: ClusterStatus, serverIndex: number): number {
  const event = cluster.events.find((candidate) => candidate.subject === `engine/${serverIndex}` && candidate.state === 'down');
  return event?.at ?? Number.NaN;
}

interface SteadyInput {
  engines: number;
  engineDownAfterMs: number;
  reportTimeoutMs: number;
  window: WindowStats;
  before: ProcessUsage;
  after: ProcessUsage;
  clusterStatusBytes: number;
  replySizes: { withRoutingBytes: number; plainBytes: number };
}

function steadyFigures(input: SteadyInput): SteadyFigures {
  const { window, before, after } = input;
  const latencies = [...window.latenciesMs].sort((left, right) => left - right);
  const lags = [...window.timerLagMs].sort((left, right) => left - right);
  const coordinatorCpuSeconds = after.cpuSeconds - before.cpuSeconds;
  return {
    engineDownAfterMs: input.engineDownAfterMs,
    reportTimeoutMs: input.reportTimeoutMs,
    windowSeconds: window.seconds,
    targetReportsPerSecond: input.engines * (1000 / CONFIG_DEFAULTS.timing.heartbeatIntervalMs),
    achievedReportsPerSecond: latencies.length / window.seconds,
    coordinatorCpuPercent: (100 * coordinatorCpuSeconds) / window.seconds,
    coordinatorCpuMicrosPerReport: (1e6 * coordinatorCpuSeconds) / Math.max(1, latencies.length),
    rssMiB: after.rssBytes / 2 ** 20,
    peakRssMiB: after.peakRssBytes / 2 ** 20,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    errors: window.errors,
    errorSamples: window.errorSamples,
    skippedReports: window.skippedReports,
    simulatorCpuPercent: (100 * window.cpuSeconds) / window.seconds,
    simulatorLoopBusyPercent: 100 * window.eventLoopUtilization,
    simulatorTimerLagP99Ms: percentile(lags, 0.99),
    replyBytesPlain: input.replySizes.plainBytes,
    replyBytesWithRouting: input.replySizes.withRoutingBytes,
    clusterStatusBytes: input.clusterStatusBytes,
  };
}

/** Microseconds on CLOCK_MONOTONIC, the clock V8 stamps CPU profile samples with on Linux. */
function monotonicMicros(): bigint {
  return process.hrtime.bigint() / 1000n;
}
