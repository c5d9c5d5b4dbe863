/**
 * Two-tier throughput and latency over HTTP (coordinator and two engines as separate
 * processes) against the same pipeline in one process without HTTP, on the same models,
 * images and concurrency, in one run.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { loadClusterConfig } from '../src/config/load.js';
import { CascadePipeline } from '../src/pipeline/cascade.js';
import { LocalExecutor } from '../src/pipeline/local-executor.js';
import { decodeImage } from '../src/runtime/image.js';
import type { LoadedModel } from '../src/runtime/loaded-model.js';
import { loadModel } from '../src/runtime/loader.js';
import { defaultSourceSettings } from '../src/sources/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { buildMobileNetV2 } from '../scripts/lib/synthetic-models.js';
import { EXAMPLE_IMAGES, TestCluster } from '../test/support/cluster.js';
import { formatStats, runClosedLoop, type RunStats } from './stats.js';

export interface CascadeBenchOptions {
  requests: number;
  warmup: number;
  concurrency: number;
}

export interface CascadeBenchResult {
  http: RunStats;
  inProcess: RunStats;
  parameters: number;
}

function loadPhotos(): Buffer[] {
  return readdirSync(EXAMPLE_IMAGES, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((folder) => readdirSync(join(EXAMPLE_IMAGES, folder.name)).map((name) => readFileSync(join(EXAMPLE_IMAGES, folder.name, name))));
}

/**
 * Two MobileNetV2-sized networks (random weights): a basic model with two categories and
 * one second model per category, so every image runs through both tiers.
 */
function writeModels(folder: string): { toml: string; parameters: number } {
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

async function benchHttp(cluster: TestCluster, photos: Buffer[], options: CascadeBenchOptions): Promise<RunStats> {
  const send = async (index: number): Promise<void> => {
    const response = await request(`${cluster.apiUrl}/v1/predict`, { method: 'POST', body: photos[index % photos.length], headers: { 'content-type': 'image/jpeg' } });
    const body = (await response.body.json()) as { predetection?: unknown[] };
    if (response.statusCode !== 200 || body.predetection?.length !== 5) throw new Error(`status ${response.statusCode}`);
  };
  await runClosedLoop(options.warmup, options.concurrency, send);
  return runClosedLoop(options.requests, options.concurrency, send);
}

async function benchInProcess(configDir: string, cacheDir: string, photos: Buffer[], options: CascadeBenchOptions): Promise<RunStats> {
  const config = loadClusterConfig([configDir]);
  const models = new Map<string, LoadedModel>();
  const sources = { ...defaultSourceSettings(cacheDir), progress: false };
  for (const model of [config.basic, ...config.second]) {
    models.set(model.id, await loadModel(model, { sources, session: { intraOpThreads: 1 }, logger: silentLogger() }));
  }
  const categories = new Map(config.second.map((model) => [model.category, model.id]));
  const pipeline = new CascadePipeline(new LocalExecutor(models), () => ({ basicModelId: config.basic.id, secondModelFor: (index) => categories.get(index) ?? null }));
  const run = async (index: number): Promise<void> => {
    const image = await decodeImage(photos[index % photos.length] ?? Buffer.alloc(0), config.limits);
    const answer = await pipeline.predict(image, `bench-${index}`);
    if (answer.predetection.length !== 5) throw new Error('missing tier 2');
  };
  try {
    await runClosedLoop(options.warmup, options.concurrency, run);
    return await runClosedLoop(options.requests, options.concurrency, run);
  } finally {
    for (const model of models.values()) await model.close();
  }
}

export async function runCascadeBench(options: CascadeBenchOptions, log: (line: string) => void): Promise<CascadeBenchResult> {
  const photos = loadPhotos();
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }], '');
  const { toml, parameters } = writeModels(join(cluster.dataDir, 'models'));
  cluster.setModelsToml(toml);
  log(`two-tier cascade: MobileNetV2-sized models (${(parameters / 1e6).toFixed(2)} M parameters, 224x224), ${photos.length} HAM10000 photos, ${options.requests} requests, concurrency ${options.concurrency}`);
  try {
    await cluster.start();
    const http = await benchHttp(cluster, photos, options);
    log(formatStats('HTTP (3 processes)', http));
    const inProcess = await benchInProcess(cluster.configDir, join(cluster.dataDir, 'bench-cache'), photos, options);
    log(formatStats('in-process (no HTTP)', inProcess));
    return { http, inProcess, parameters };
  } finally {
    await cluster.stop();
  }
}
