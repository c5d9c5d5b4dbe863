/**
 * A coordinator process with its own configuration and data folder, and the simulated
 * fleet that reports to it, from start to convergence.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { z } from 'zod';
import { CONFIG_DEFAULTS } from '../src/config/defaults.js';
import { freePort, REPO_ROOT, startCli, stopProcess, waitForStatus, type CliProcess } from '../test/support/processes.js';
import { SECOND_MODEL_COUNT, writeFleetConfig } from './fleet-config.js';
import { FleetSimulator, type WindowStats } from './fleet-simulator.js';
import { ProcessMeter, type ProcessUsage } from './process-usage.js';
import { percentile } from './stats.js';

export interface SessionOptions {
  engines: number;
  /** Any existing file; the configuration names it as every model's source. */
  modelFile: string;
  /** Folder for a V8 CPU profile of the coordinator (`node --cpu-prof`); null for none. */
  cpuProfileDir: string | null;
  /** Compiled CLI entry (such as dist/cli/main.js) to run the coordinator from; null runs the sources through tsx. */
  compiledEntry: string | null;
  /** Share of the simulated engines, from 0 to 1, that serve /v1/predict and so want the routing table. */
  routingShare: number;
  log: (line: string) => void;
}

/** The parts of `GET /v1/cluster` the checks read. */
const clusterSchema = z.object({
  engines: z.array(z.object({ serverIndex: z.number(), engineId: z.string(), state: z.string(), lastSeen: z.number() })),
  placements: z.array(z.object({ modelId: z.string(), serverIndex: z.number(), ready: z.boolean() })),
  routing: z.object({ revision: z.number(), routes: z.record(z.string(), z.object({ replicas: z.array(z.object({ serverIndex: z.number() })) })) }),
  events: z.array(z.object({ at: z.number(), subject: z.string(), state: z.string() })),
});

export type ClusterStatus = z.infer<typeof clusterSchema>;

export interface WarmupResult {
  converged: boolean;
  /** From the first report until the fleet converged, or until the timeout. */
  seconds: number;
  errors: number;
  /** Times the coordinator marked an engine down, from its log. */
  enginesMarkedDown: number;
  /** The last progress window: what the coordinator sustained at the end of the warm-up. */
  last: WindowSummary | null;
}

/** One progress window of the warm-up, reduced to figures. */
export interface WindowSummary {
  repliesPerSecond: number;
  repliesWithTable: number;
  p50Ms: number;
  p99Ms: number;
  coordinatorCpuPercent: number;
  rssMiB: number;
  simulatorLoopBusyPercent: number;
  errors: number;
}

/** No reply may carry assignments or a table for this long before the fleet counts as converged. */
export const SETTLED_QUIET_MS = 2_000;

/** Timing of a session: the coordinator's `engine_down_after_ms` and the simulated engines' report timeout. */
export interface FleetTiming {
  /** Null keeps the configuration's default. */
  engineDownAfterMs: number | null;
  /** A report without a reply within this many milliseconds is aborted and counts as an error. */
  reportTimeoutMs: number;
}

/** The defaults: `engine_down_after_ms` from the configuration, and the report timeout `cascade engine` uses. */
export const DEFAULT_TIMING: FleetTiming = { engineDownAfterMs: null, reportTimeoutMs: 5_000 };

const PROGRESS_INTERVAL_MS = 5_000;
const MARKED_DOWN_LINE = '"msg":"engine marked down"';

export class FleetSession {
  private closing: Promise<void> | null = null;

  private constructor(
    readonly url: string,
    readonly meter: ProcessMeter,
    readonly simulator: FleetSimulator,
    readonly idleUsage: ProcessUsage,
    /** `engine_down_after_ms` the coordinator runs with. */
    readonly engineDownAfterMs: number,
    readonly reportTimeoutMs: number,
    private readonly coordinator: CliProcess,
    private readonly workDir: string,
    private readonly options: SessionOptions,
  ) {}

  /** Writes the configuration, starts the coordinator and waits for it to listen; engines start in `warmUp`. */
  static async start(options: SessionOptions, timing: FleetTiming): Promise<FleetSession> {
    const workDir = mkdtempSync(join(tmpdir(), 'cascade-fleet-'));
    const configDir = join(workDir, 'config');
    mkdirSync(configDir);
    const layout = writeFleetConfig(configDir, options.engines, options.modelFile, timing.engineDownAfterMs);
    const token = randomBytes(18).toString('base64url');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const coordinator = startCoordinator(configDir, join(workDir, 'data'), port, token, options);
    try {
      await waitForStatus(`${url}/healthz`, 200, 60_000, coordinator.output);
      const pid = coordinator.child.pid;
      if (pid === undefined) throw new Error('The coordinator process has no pid; it failed to start.');
      const meter = new ProcessMeter(pid);
      const modelVersion = createHash('sha256').update(readFileSync(options.modelFile)).digest('hex');
      const simulator = new FleetSimulator({ coordinatorUrl: url, token, addresses: layout.addresses, modelVersion, intervalMs: CONFIG_DEFAULTS.timing.heartbeatIntervalMs, timeoutMs: timing.reportTimeoutMs, routingShare: options.routingShare });
      const downAfterMs = timing.engineDownAfterMs ?? CONFIG_DEFAULTS.timing.engineDownAfterMs;
      return new FleetSession(url, meter, simulator, meter.read(), downAfterMs, timing.reportTimeoutMs, coordinator, workDir, options);
    } catch (error) {
      await stopProcess(coordinator);
      rmSync(workDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Starts the engines and waits until the fleet converged or `timeoutMs` passed, logging progress every few seconds. */
  async warmUp(timeoutMs: number): Promise<WarmupResult> {
    const { simulator, meter } = this;
    simulator.beginWindow();
    simulator.start();
    const startedAt = Date.now();
    let errors = 0;
    let usage = meter.read();
    let loggedAt = startedAt;
    let last: WindowSummary | null = null;
    while (!simulator.settled(SETTLED_QUIET_MS) && Date.now() - startedAt < timeoutMs) {
      await sleep(100);
      if (Date.now() - loggedAt < PROGRESS_INTERVAL_MS) continue;
      const stats = simulator.endWindow();
      simulator.beginWindow();
      const now = meter.read();
      errors += stats.errors;
      last = summarizeWindow(stats, usage, now);
      this.options.log(`    ${((Date.now() - startedAt) / 1000).toFixed(0)} s: ${describeWindow(last, stats.errorSamples)}`);
      usage = now;
      loggedAt = Date.now();
    }
    errors += simulator.endWindow().errors;
    const converged = simulator.settled(SETTLED_QUIET_MS);
    const seconds = (Date.now() - startedAt - (converged ? SETTLED_QUIET_MS : 0)) / 1000;
    return { converged, seconds, errors, enginesMarkedDown: this.enginesMarkedDown(), last };
  }

  /** Times the coordinator logged that it marked an engine down. */
  enginesMarkedDown(): number {
    return this.coordinator.output().split(MARKED_DOWN_LINE).length - 1;
  }

  async fetchCluster(): Promise<{ cluster: ClusterStatus; bytes: number }> {
    const response = await request(`${this.url}/v1/cluster`, { signal: AbortSignal.timeout(30_000) });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`GET /v1/cluster responded with ${response.statusCode}: ${text.slice(0, 300)}`);
    return { cluster: clusterSchema.parse(JSON.parse(text)), bytes: Buffer.byteLength(text) };
  }

  /** Fails unless the coordinator shows every simulated engine up and every placement ready. */
  checkConverged(cluster: ClusterStatus): void {
    const engineCount = this.options.engines;
    const engineIds = this.simulator.engineIds();
    const problems: string[] = [];
    const up = cluster.engines.filter((engine) => engine.state === 'up' && engine.engineId === engineIds[engine.serverIndex]);
    if (up.length !== engineCount) problems.push(`${up.length} of ${engineCount} engines are up with the simulated engine id`);
    const expectedPlacements = engineCount * (1 + SECOND_MODEL_COUNT);
    const ready = cluster.placements.filter((placement) => placement.ready);
    if (cluster.placements.length !== expectedPlacements || ready.length !== expectedPlacements) problems.push(`${ready.length} of ${cluster.placements.length} placements are ready, expected ${expectedPlacements}`);
    for (const [modelId, route] of Object.entries(cluster.routing.routes)) {
      if (route.replicas.length !== engineCount) problems.push(`the route of ${modelId} lists ${route.replicas.length} replicas, expected ${engineCount}`);
    }
    if (problems.length > 0) throw new Error(`The cluster after warm-up is not what the simulator reported: ${problems.join('; ')}.`);
  }

  /** Returns the last lines of the coordinator's output, for failure messages. */
  outputTail(): string {
    return this.coordinator.output().slice(-2000);
  }

  /** Stops the simulated engines, then the coordinator, and removes the folder. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    try {
      await this.simulator.close();
    } finally {
      await stopProcess(this.coordinator);
      rmSync(this.workDir, { recursive: true, force: true });
    }
  }
}

/**
 * Starts `cascade coordinator` with `startCli`, or, for a CPU profile or a compiled
 * entry, the same way with other Node arguments: Node rejects `--cpu-prof` in NODE_OPTIONS.
 */
function startCoordinator(configDir: string, dataDir: string, port: number, token: string, options: SessionOptions): CliProcess {
  const args = ['coordinator', '--config', configDir, '--data-dir', dataDir, '--port', String(port), '--token', token, '--log-level', 'warn'];
  if (options.cpuProfileDir === null && options.compiledEntry === null) return startCli(args);
  const profile = options.cpuProfileDir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`];
  const entry = options.compiledEntry === null ? ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli', 'main.ts')] : [options.compiledEntry];
  const child = spawn(process.execPath, [...profile, ...entry, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

export function summarizeWindow(stats: WindowStats, before: ProcessUsage, after: ProcessUsage): WindowSummary {
  const latencies = [...stats.latenciesMs].sort((left, right) => left - right);
  return {
    repliesPerSecond: latencies.length / stats.seconds,
    repliesWithTable: stats.repliesWithRouting,
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    coordinatorCpuPercent: (100 * (after.cpuSeconds - before.cpuSeconds)) / stats.seconds,
    rssMiB: after.rssBytes / 2 ** 20,
    simulatorLoopBusyPercent: 100 * stats.eventLoopUtilization,
    errors: stats.errors,
  };
}

function describeWindow(window: WindowSummary, errorSamples: string[]): string {
  const errors = window.errors === 0 ? '0 errors' : `${window.errors} errors (${errorSamples.join(' | ')})`;
  return [
    `${window.repliesPerSecond.toFixed(0)} replies/s`,
    `${window.repliesWithTable} with a table`,
    `p50 ${window.p50Ms.toFixed(1)} ms`,
    `p99 ${window.p99Ms.toFixed(1)} ms`,
    `coordinator CPU ${window.coordinatorCpuPercent.toFixed(0)} %`,
    `RSS ${window.rssMiB.toFixed(0)} MiB`,
    `simulator loop ${window.simulatorLoopBusyPercent.toFixed(0)} % busy`,
    errors,
  ].join(', ');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
