/**
 * The inference host of an engine: ONNX Runtime in its inference thread (the default) or
 * inline on the main thread. Two clusters of the same shape, one per host, take turns under the
 * same load. During each turn a probe requests /healthz from engine 0 every few
 * milliseconds. Its latency shows how long the engine's event loop waits, which is also how long
 * heartbeats and routing updates wait.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { request } from 'undici';
import type { InferenceHost } from '../src/runtime/session.js';
import { TestCluster } from '../test/support/cluster.js';
import { httpSide, loadPhotos, writeModels, type Side } from './cascade-bench.js';
import { formatStats, percentile, runClosedLoop, summarize, type RunStats } from './stats.js';

export interface HostBenchOptions {
  requests: number;
  warmup: number;
  concurrency: number;
  rounds: number;
  /** Pause between two /healthz probes. */
  probeIntervalMs: number;
}

export interface HostResult {
  predictions: RunStats;
  /** Latency of GET /healthz on engine 0 during the load. */
  healthP50Ms: number;
  healthP99Ms: number;
  healthMaxMs: number;
}

export interface HostBenchResult {
  thread: HostResult;
  inline: HostResult;
}

const HOSTS: InferenceHost[] = ['thread', 'inline'];

/** Everything one host measured, summed over its turns. */
interface HostTotals {
  latenciesMs: number[];
  failures: number;
  seconds: number;
  healthMs: number[];
}

export async function runHostBench(options: HostBenchOptions, log: (line: string) => void): Promise<HostBenchResult> {
  const photos = loadPhotos();
  const clusters = new Map<InferenceHost, TestCluster>();
  log(`inference host: the same cascade with engines run with --inference thread and --inference inline, ${options.requests} requests per host in ${options.rounds} alternating rounds, concurrency ${options.concurrency}, /healthz probed every ${options.probeIntervalMs} ms`);
  try {
    for (const host of HOSTS) clusters.set(host, await startCluster(host));
    const totals = await runRounds(clusters, photos, options);
    const thread = summarizeHost(totals.get('thread'));
    const inline = summarizeHost(totals.get('inline'));
    for (const [name, result] of [['engines --inference thread', thread], ['engines --inference inline', inline]] as const) {
      log(formatStats(name, result.predictions));
      log(`${name.padEnd(28)} /healthz during load: p50 ${result.healthP50Ms.toFixed(2)} ms, p99 ${result.healthP99Ms.toFixed(2)} ms, max ${result.healthMaxMs.toFixed(1)} ms`);
    }
    return { thread, inline };
  } finally {
    for (const cluster of clusters.values()) await cluster.stop();
  }
}

async function startCluster(host: InferenceHost): Promise<TestCluster> {
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }], '');
  cluster.setModelsToml(writeModels(join(cluster.dataDir, 'models')).toml);
  cluster.engineArgs = ['--inference', host];
  await cluster.start();
  return cluster;
}

async function runRounds(clusters: Map<InferenceHost, TestCluster>, photos: Buffer[], options: HostBenchOptions): Promise<Map<InferenceHost, HostTotals>> {
  const sides = new Map<InferenceHost, { side: Side; healthUrl: string }>();
  const totals = new Map<InferenceHost, HostTotals>();
  for (const [host, cluster] of clusters) {
    sides.set(host, { side: httpSide(cluster, photos), healthUrl: `http://${cluster.engineAddress(0)}/healthz` });
    totals.set(host, { latenciesMs: [], failures: 0, seconds: 0, healthMs: [] });
    await runClosedLoop(options.warmup, options.concurrency, (index) => sides.get(host)?.side.send(index) ?? Promise.resolve());
  }
  for (let round = 0; round < options.rounds; round += 1) {
    const order = round % 2 === 0 ? HOSTS : [...HOSTS].reverse();
    const requests = Math.floor((options.requests * (round + 1)) / options.rounds) - Math.floor((options.requests * round) / options.rounds);
    for (const host of order) {
      const target = sides.get(host);
      const hostTotals = totals.get(host);
      if (target === undefined || hostTotals === undefined) continue;
      await runTurn(target.side, target.healthUrl, requests, options, hostTotals);
    }
  }
  return totals;
}

/** Runs one turn of load while probing /healthz, and adds what it measured to `totals`. */
async function runTurn(side: Side, healthUrl: string, requests: number, options: HostBenchOptions, totals: HostTotals): Promise<void> {
  const probe = new AbortController();
  const probing = probeHealth(healthUrl, options.probeIntervalMs, probe.signal, totals.healthMs);
  const stats = await runClosedLoop(requests, options.concurrency, async (index) => {
    const started = process.hrtime.bigint();
    await side.send(index);
    totals.latenciesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
  });
  probe.abort();
  await probing;
  totals.failures += stats.failures;
  totals.seconds += stats.seconds;
}

async function probeHealth(url: string, intervalMs: number, signal: AbortSignal, latenciesMs: number[]): Promise<void> {
  while (!signal.aborted) {
    const started = process.hrtime.bigint();
    const response = await request(url);
    await response.body.dump();
    if (response.statusCode === 200) latenciesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
    await sleep(intervalMs);
  }
}

function summarizeHost(totals: HostTotals | undefined): HostResult {
  if (totals === undefined) throw new Error('a host took no turn');
  const health = [...totals.healthMs].sort((left, right) => left - right);
  return {
    predictions: summarize(totals.latenciesMs, totals.failures, totals.seconds),
    healthP50Ms: percentile(health, 0.5),
    healthP99Ms: percentile(health, 0.99),
    healthMaxMs: health.at(-1) ?? Number.NaN,
  };
}
