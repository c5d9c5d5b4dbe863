/**
 * Two-tier throughput and latency over HTTP (coordinator and two engines as separate
 * processes) against the same pipeline in one process without HTTP, on the same models,
 * images and concurrency, in one run. The two sides take turns in rounds, so a change in
 * machine load during the run hits both, and each side's CPU time per image is counted
 * over every process that works for it.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { request } from 'undici';
import { loadClusterConfig } from '../src/config/load.js';
import type { ImageLimits } from '../src/config/types.js';
import { CascadePipeline } from '../src/pipeline/cascade.js';
import { LocalExecutor } from '../src/pipeline/local-executor.js';
import { decodeImage } from '../src/runtime/image.js';
import type { LoadedModel } from '../src/runtime/loaded-model.js';
import { loadModel } from '../src/runtime/loader.js';
import { defaultSourceSettings } from '../src/sources/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { buildMobileNetV2 } from '../scripts/lib/synthetic-models.js';
import { EXAMPLE_IMAGES, TestCluster } from '../test/support/cluster.js';
import { formatStats, runClosedLoop, summarize, type RunStats } from './stats.js';

export interface CascadeBenchOptions {
  requests: number;
  warmup: number;
  concurrency: number;
  /** Turns each side takes; the requests are split evenly over them. Default 4. */
  rounds?: number;
}

export interface CascadeBenchResult {
  http: RunStats;
  inProcess: RunStats;
  parameters: number;
  /** CPU milliseconds per image summed over the coordinator, both engines and the bench client. */
  httpCpuMsPerImage: number;
  /** CPU milliseconds per image of the bench process, which runs the whole cascade. */
  inProcessCpuMsPerImage: number;
  /** The HTTP side's CPU milliseconds per image, per process. */
  httpCpuMsPerImageByProcess: Record<string, number>;
}

const DEFAULT_ROUNDS = 4;

/** One way of running the cascade, with the processes whose CPU time it uses. */
export interface Side {
  send: (index: number) => Promise<void>;
  /** CPU seconds used so far, per process. */
  cpuSeconds: () => Record<string, number>;
}

/** Everything one side measured, summed over its rounds. */
class SideTotals {
  readonly latenciesMs: number[] = [];
  failures = 0;
  seconds = 0;
  readonly cpuSeconds: Record<string, number> = {};

  stats(): RunStats {
    return summarize(this.latenciesMs, this.failures, this.seconds);
  }

  /** CPU milliseconds per successful image, per process. */
  cpuMsPerImage(): Record<string, number> {
    const images = Math.max(1, this.latenciesMs.length);
    return Object.fromEntries(Object.entries(this.cpuSeconds).map(([name, seconds]) => [name, (seconds * 1000) / images]));
  }
}

export function loadPhotos(): Buffer[] {
  return readdirSync(EXAMPLE_IMAGES, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((folder) => readdirSync(join(EXAMPLE_IMAGES, folder.name)).map((name) => readFileSync(join(EXAMPLE_IMAGES, folder.name, name))));
}

/**
 * Two MobileNetV2-sized networks (random weights): a basic model with two categories and
 * one second model per category, so every image runs through both tiers.
 */
export function writeModels(folder: string): { toml: string; parameters: number } {
  mkdirSync(folder, { recursive: true });
  const basic = buildMobileNetV2(2, 1);
  writeFileSync(join(folder, 'basic.onnx'), basic.onnx);
  writeFileSync(join(folder, 'second.onnx'), buildMobileNetV2(5, 2).onnx);
  const second = (category: number): string => `[Second.${category}]
parent = 1
model = '${join(folder, 'second.onnx')}'
labels = ["a", "b", "c", "d", "e"]
`;
  const toml = `[Basic]
parent = 0
model = '${join(folder, 'basic.onnx')}'
labels = ["category one", "category two"]

[Second]
${second(0)}
${second(1)}`;
  return { toml, parameters: basic.parameters };
}

/** User plus system CPU seconds of this process, all threads included. */
function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * Reads user plus system CPU seconds of another process from Linux's /proc, all threads
 * included (libvips workers, V8's garbage collector threads, libuv's thread pool).
 */
function processCpuReader(): (pid: number) => number {
  const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const ticksPerSecond = Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  return (pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields are counted after the command name's closing bracket, because the name may
    // contain spaces: utime and stime are fields 14 and 15 of the line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  };
}

export function httpSide(cluster: TestCluster, photos: Buffer[]): Side {
  const pids: Record<string, number | undefined> = { coordinator: cluster.coordinator?.child.pid };
  for (const [index, engine] of cluster.engines) pids[`engine ${index}`] = engine.child.pid;
  const readCpu = processCpuReader();
  const send = async (index: number): Promise<void> => {
    const response = await request(`${cluster.apiUrl}/v1/predict`, { method: 'POST', body: photos[index % photos.length], headers: { 'content-type': 'image/jpeg' } });
    const body = (await response.body.json()) as { predetection?: unknown[] };
    if (response.statusCode !== 200 || body.predetection?.length !== 5) throw new Error(`status ${response.statusCode}`);
  };
  const cpuSeconds = (): Record<string, number> => {
    const usage: Record<string, number> = {};
    for (const [name, pid] of Object.entries(pids)) {
      if (pid === undefined) throw new Error(`the ${name} process has no pid; it did not start`);
      usage[name] = readCpu(pid);
    }
    // During HTTP turns the bench process only sends requests and reads the responses.
    usage['bench client'] = ownCpuSeconds();
    return usage;
  };
  return { send, cpuSeconds };
}

/** The cascade with every model loaded in the bench process. */
interface InProcessCascade {
  pipeline: CascadePipeline;
  models: LoadedModel[];
  limits: ImageLimits;
}

async function loadInProcess(configDir: string, cacheDir: string): Promise<InProcessCascade> {
  const config = loadClusterConfig([configDir]);
  const models = new Map<string, LoadedModel>();
  const sources = { ...defaultSourceSettings(cacheDir), progress: false };
  // One ONNX Runtime thread per session, as the engines get with --threads 1.
  for (const model of [config.basic, ...config.second]) {
    models.set(model.id, await loadModel(model, { sources, session: { intraOpThreads: 1 }, logger: silentLogger() }));
  }
  const categories = new Map(config.second.map((model) => [model.category, model.id]));
  const pipeline = new CascadePipeline(new LocalExecutor(models), () => ({ basicModelId: config.basic.id, secondModelFor: (index) => categories.get(index) ?? null }));
  return { pipeline, models: [...models.values()], limits: config.limits };
}

function inProcessSide(loaded: InProcessCascade, photos: Buffer[]): Side {
  const send = async (index: number): Promise<void> => {
    const image = await decodeImage(photos[index % photos.length] ?? Buffer.alloc(0), loaded.limits);
    const answer = await loaded.pipeline.predict(image, `bench-${index}`);
    if (answer.predetection.length !== 5) throw new Error('missing tier 2');
  };
  return { send, cpuSeconds: () => ({ 'bench process': ownCpuSeconds() }) };
}

/** Runs one turn of a side and adds its latencies, time and CPU seconds to `totals`. */
async function runTurn(side: Side, requests: number, concurrency: number, totals: SideTotals): Promise<void> {
  const timed = async (index: number): Promise<void> => {
    const started = process.hrtime.bigint();
    await side.send(index);
    totals.latenciesMs.push(Number(process.hrtime.bigint() - started) / 1e6);
  };
  const before = side.cpuSeconds();
  const stats = await runClosedLoop(requests, concurrency, timed);
  const after = side.cpuSeconds();
  totals.failures += stats.failures;
  totals.seconds += stats.seconds;
  for (const [name, seconds] of Object.entries(after)) totals.cpuSeconds[name] = (totals.cpuSeconds[name] ?? 0) + seconds - (before[name] ?? 0);
}

/** Alternates the sides' turns (HTTP first in even rounds, in-process first in odd ones). */
async function runRounds(http: Side, inProcess: Side, options: CascadeBenchOptions): Promise<{ http: SideTotals; inProcess: SideTotals }> {
  const totals = { http: new SideTotals(), inProcess: new SideTotals() };
  await runClosedLoop(options.warmup, options.concurrency, http.send);
  await runClosedLoop(options.warmup, options.concurrency, inProcess.send);
  const rounds = Math.max(1, Math.min(options.rounds ?? DEFAULT_ROUNDS, options.requests));
  for (let round = 0; round < rounds; round += 1) {
    const requests = Math.floor((options.requests * (round + 1)) / rounds) - Math.floor((options.requests * round) / rounds);
    const turns: [Side, SideTotals][] = [[http, totals.http], [inProcess, totals.inProcess]];
    if (round % 2 === 1) turns.reverse();
    for (const [side, sideTotals] of turns) await runTurn(side, requests, options.concurrency, sideTotals);
  }
  return totals;
}

function formatCpu(name: string, byProcess: Record<string, number>): string {
  const total = Object.values(byProcess).reduce((sum, value) => sum + value, 0);
  const parts = Object.entries(byProcess).map(([process, value]) => `${process} ${value.toFixed(1)}`);
  return `${name.padEnd(28)} CPU ${total.toFixed(1).padStart(6)} ms per image (${parts.join(', ')})`;
}

export async function runCascadeBench(options: CascadeBenchOptions, log: (line: string) => void): Promise<CascadeBenchResult> {
  const photos = loadPhotos();
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }], '');
  const { toml, parameters } = writeModels(join(cluster.dataDir, 'models'));
  cluster.setModelsToml(toml);
  const rounds = options.rounds ?? DEFAULT_ROUNDS;
  log(`two-tier cascade: MobileNetV2-sized models (${(parameters / 1e6).toFixed(2)} M parameters, 224x224), ${photos.length} HAM10000 photos, ${options.requests} requests per side in ${rounds} alternating rounds, concurrency ${options.concurrency}`);
  let loaded: InProcessCascade | null = null;
  try {
    await cluster.start();
    loaded = await loadInProcess(cluster.configDir, join(cluster.dataDir, 'bench-cache'));
    const totals = await runRounds(httpSide(cluster, photos), inProcessSide(loaded, photos), options);
    const http = totals.http.stats();
    const inProcess = totals.inProcess.stats();
    const httpCpu = totals.http.cpuMsPerImage();
    const inProcessCpu = totals.inProcess.cpuMsPerImage();
    log(formatStats('HTTP (3 processes)', http));
    log(formatStats('in-process (no HTTP)', inProcess));
    log(formatCpu('HTTP (3 processes)', httpCpu));
    log(formatCpu('in-process (no HTTP)', inProcessCpu));
    const sum = (byProcess: Record<string, number>): number => Object.values(byProcess).reduce((total, value) => total + value, 0);
    return { http, inProcess, parameters, httpCpuMsPerImage: sum(httpCpu), inProcessCpuMsPerImage: sum(inProcessCpu), httpCpuMsPerImageByProcess: httpCpu };
  } finally {
    for (const model of loaded?.models ?? []) await model.close();
    await cluster.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const size = (name: string, fallback: number): number => {
    const value = Number(process.env[name]);
    return Number.isInteger(value) && value > 0 ? value : fallback;
  };
  log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`);
  const result = await runCascadeBench({ requests: size('BENCH_REQUESTS', 400), warmup: size('BENCH_WARMUP', 40), concurrency: size('BENCH_CONCURRENCY', 4), rounds: size('BENCH_ROUNDS', DEFAULT_ROUNDS) }, log);
  log(`HTTP / in-process throughput ratio: ${(result.http.imagesPerSecond / result.inProcess.imagesPerSecond).toFixed(3)}; CPU per image ratio ${(result.httpCpuMsPerImage / result.inProcessCpuMsPerImage).toFixed(3)}`);
  log(JSON.stringify(result));
}
