/**
 * Keras files against ONNX files of the same network. Each network is loaded twice
 * through `loadModel`: once as its Keras .h5 file (converted at load time) and once as
 * the converter's output saved as a plain .onnx file. Both then run through the same
 * ModelSession path, so the per-image latencies differ only by the file they came
 * from. A pure JavaScript evaluation of the MobileNetV2-sized network, with the naive
 * reference layers of the tests, shows what interpreting the layers would cost.
 *
 * `npm run bench` runs this section after the cascade one, and
 * `node --import tsx bench/keras-bench.ts` runs it alone.
 */
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { CONFIG_DEFAULTS } from '../src/config/defaults.js';
import type { ModelConfig, ModelFormatName, Preprocessing, ResizeMethod, ScalingMode } from '../src/config/types.js';
import { detectFormat } from '../src/formats/index.js';
import { decodeImage, type RgbImage } from '../src/runtime/image.js';
import type { LoadedModel } from '../src/runtime/loaded-model.js';
import { loadModel } from '../src/runtime/loader.js';
import { toInputTensor } from '../src/runtime/tensor.js';
import { defaultSourceSettings } from '../src/sources/index.js';
import { silentLogger } from '../src/shared/logger.js';
import { EXAMPLE_IMAGES, EXAMPLE_MODELS } from '../test/support/cluster.js';
import { writeKerasModel } from '../test/support/keras-h5.js';
import type { Tensor } from '../test/support/reference-ops.js';
import { buildKerasMobileNetV2, MOBILENET_INPUT_SIZE } from './keras-network.js';
import { percentile } from './stats.js';

export interface KerasBenchOptions {
  /** Timed inferences per file for the MobileNetV2-sized network. */
  mobileNetRuns: number;
  /** Timed inferences per file for the small HAM10000 CNN. */
  hamRuns: number;
  /** Untimed inferences per file before timing starts. */
  warmupRuns: number;
  /** Images run through the pure JavaScript evaluation; 0 skips it. */
  javascriptImages: number;
}

/** Latency of one network loaded from its Keras file and from its ONNX file. */
export interface PairResult {
  kerasP50Ms: number;
  onnxP50Ms: number;
  kerasP90Ms: number;
  onnxP90Ms: number;
  /** Keras p50 divided by ONNX p50. */
  ratio: number;
  /** Cold conversion: hash, convert and write the cache entry, on an empty cache. */
  conversionMs: number;
  /** The same call again, now reading the cache entry. */
  cachedLoadMs: number;
  /** `loadModel` of each file with a warm conversion cache: session creation and warm-up included. */
  kerasLoadMs: number;
  onnxLoadMs: number;
  /** Largest difference between the two files' probabilities on the same images. */
  maxAbsDifference: number;
}

export interface JavaScriptResult {
  images: number;
  msPerImage: number;
  /** Largest difference between the JavaScript and the ONNX Runtime probabilities. */
  maxAbsDifference: number;
}

export interface KerasBenchResult {
  mobileNet: PairResult & { parameters: number; fileBytes: number };
  ham: PairResult;
  javascript: JavaScriptResult | null;
}

const MOBILENET_CLASSES = 1000;
const MOBILENET_SEED = 2024;
const HAM_MODEL = join(EXAMPLE_MODELS, 'ham10000-cnn', 'best_model.h5');

interface NetworkSpec {
  name: string;
  kerasFile: string;
  size: number;
  resize: ResizeMethod;
  scaling: ScalingMode;
  runs: number;
}

interface LoadedPair {
  keras: LoadedModel;
  onnx: LoadedModel;
  result: Pick<PairResult, 'conversionMs' | 'cachedLoadMs' | 'kerasLoadMs' | 'onnxLoadMs'>;
}

export async function runKerasBench(options: KerasBenchOptions, log: (line: string) => void): Promise<KerasBenchResult> {
  const folder = await mkdtemp(join(tmpdir(), 'cascade-keras-bench-'));
  try {
    const network = buildKerasMobileNetV2(MOBILENET_CLASSES, MOBILENET_SEED);
    const mobileNetFile = join(folder, 'mobilenetv2.h5');
    await writeKerasModel(mobileNetFile, network.model, { style: 'keras2' });
    const fileBytes = (await stat(mobileNetFile)).size;
    log(`Keras files against ONNX: MobileNetV2-sized Keras file (${(network.parameters / 1e6).toFixed(2)} M parameters, ${(fileBytes / 2 ** 20).toFixed(1)} MiB, 224x224, seeded random weights) and the HAM10000 CNN (28x28); ONNX Runtime with its default thread count`);

    const photos = await decodePhotos();
    const mobileNetSpec: NetworkSpec = { name: 'MobileNetV2', kerasFile: mobileNetFile, size: MOBILENET_INPUT_SIZE, resize: 'bilinear', scaling: 'symmetric', runs: options.mobileNetRuns };
    const runJavaScript = (onnx: LoadedModel, images: RgbImage[]): Promise<JavaScriptResult> => benchJavaScript(network.evaluate, onnx, images.slice(0, options.javascriptImages));
    const [mobileNet, javascript] = await benchPair(mobileNetSpec, folder, photos, options, log, options.javascriptImages > 0 ? runJavaScript : null);
    if (javascript !== null) logJavaScript(javascript, mobileNet, log);

    const hamSpec: NetworkSpec = { name: 'HAM10000 CNN', kerasFile: HAM_MODEL, size: 28, resize: 'nearest', scaling: 'unit', runs: options.hamRuns };
    const [ham] = await benchPair(hamSpec, folder, photos, options, log, null);
    return { mobileNet: { ...mobileNet, parameters: network.parameters, fileBytes }, ham, javascript };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

/**
 * Loads both files of one network and times them. `alsoRun` gets the ONNX model and the
 * resized photos after the timing, before the models are closed, and its result is
 * returned beside the timing.
 */
async function benchPair<Extra>(
  spec: NetworkSpec,
  folder: string,
  photos: RgbImage[],
  options: KerasBenchOptions,
  log: (line: string) => void,
  alsoRun: ((onnx: LoadedModel, images: RgbImage[]) => Promise<Extra>) | null,
): Promise<[PairResult, Extra | null]> {
  const pair = await loadPair(spec, folder);
  try {
    const images = await Promise.all(photos.map((photo) => pair.keras.resizeToInput(photo)));
    const timing = await timeAlternating(pair, images, spec.runs, options.warmupRuns);
    const maxAbsDifference = await largestDifference(pair, images);
    const extra = alsoRun === null ? null : await alsoRun(pair.onnx, images);
    const ratio = timing.keras.p50 / timing.onnx.p50;
    const result: PairResult = {
      kerasP50Ms: timing.keras.p50,
      onnxP50Ms: timing.onnx.p50,
      kerasP90Ms: timing.keras.p90,
      onnxP90Ms: timing.onnx.p90,
      ratio,
      ...pair.result,
      maxAbsDifference,
    };
    log(`  ${spec.name}: conversion ${result.conversionMs.toFixed(0)} ms cold, ${result.cachedLoadMs.toFixed(1)} ms from the cache; loadModel ${result.kerasLoadMs.toFixed(0)} ms (.h5) and ${result.onnxLoadMs.toFixed(0)} ms (.onnx)`);
    log(`  ${spec.name} per image (${spec.runs} runs each): .h5 p50 ${result.kerasP50Ms.toFixed(3)} ms (p90 ${result.kerasP90Ms.toFixed(3)}), .onnx p50 ${result.onnxP50Ms.toFixed(3)} ms (p90 ${result.onnxP90Ms.toFixed(3)}), Keras/ONNX ${ratio.toFixed(3)}; largest probability difference ${maxAbsDifference.toExponential(1)}`);
    return [result, extra];
  } finally {
    await pair.keras.close();
    await pair.onnx.close();
  }
}

/**
 * Converts the Keras file twice through the loader's format path (cold, then from the
 * cache), saves the graph as a .onnx file, and loads both files with `loadModel`.
 */
async function loadPair(spec: NetworkSpec, folder: string): Promise<LoadedPair> {
  const cacheDir = await mkdtemp(join(folder, 'cache-'));
  const convert = async (): Promise<{ onnx: Uint8Array; ms: number }> => {
    const started = performance.now();
    const format = await detectFormat(spec.kerasFile, 'auto', { cacheDir });
    const converted = await format.convert(spec.kerasFile);
    return { onnx: converted.onnx, ms: performance.now() - started };
  };
  const cold = await convert();
  const cached = await convert();
  const onnxFile = join(folder, `${spec.name.replace(/\W+/g, '-').toLowerCase()}.onnx`);
  await writeFile(onnxFile, cold.onnx);

  const sources = { ...defaultSourceSettings(cacheDir), progress: false };
  const load = async (source: string, format: ModelFormatName): Promise<{ model: LoadedModel; ms: number }> => {
    const started = performance.now();
    const model = await loadModel(benchModelConfig(spec, source, format), { sources, session: { intraOpThreads: 0 }, logger: silentLogger() });
    return { model, ms: performance.now() - started };
  };
  const keras = await load(spec.kerasFile, 'keras');
  let onnx: { model: LoadedModel; ms: number };
  try {
    onnx = await load(onnxFile, 'onnx');
  } catch (error) {
    await keras.model.close();
    throw error;
  }
  return { keras: keras.model, onnx: onnx.model, result: { conversionMs: cold.ms, cachedLoadMs: cached.ms, kerasLoadMs: keras.ms, onnxLoadMs: onnx.ms } };
}

function benchModelConfig(spec: NetworkSpec, source: string, format: ModelFormatName): ModelConfig {
  const preprocessing: Preprocessing = {
    width: spec.size,
    height: spec.size,
    resize: spec.resize,
    scaling: { mode: spec.scaling, mean: [0, 0, 0], std: [1, 1, 1] },
    channelOrder: 'rgb',
    layout: 'auto',
  };
  return { id: `${spec.name} (${format})`, tier: 'basic', parents: [0], source, sha256: null, format, category: null, categoryName: null, labels: null, preprocessing, output: 'auto' };
}

/**
 * Times `classify` on both models, one image at a time, alternating which model goes
 * first, so that drift in machine load affects both alike.
 */
async function timeAlternating(pair: LoadedPair, images: RgbImage[], runs: number, warmupRuns: number): Promise<{ keras: Latency; onnx: Latency }> {
  const kerasMs: number[] = [];
  const onnxMs: number[] = [];
  for (let run = 0; run < warmupRuns + runs; run += 1) {
    const image = images[run % images.length];
    if (image === undefined) throw new Error('no photos to classify');
    const order: Array<[LoadedModel, number[]]> = run % 2 === 0 ? [[pair.keras, kerasMs], [pair.onnx, onnxMs]] : [[pair.onnx, onnxMs], [pair.keras, kerasMs]];
    for (const [model, samples] of order) {
      const started = performance.now();
      await model.classify(image);
      if (run >= warmupRuns) samples.push(performance.now() - started);
    }
  }
  return { keras: latencyOf(kerasMs), onnx: latencyOf(onnxMs) };
}

interface Latency {
  p50: number;
  p90: number;
}

function latencyOf(samples: number[]): Latency {
  const sorted = [...samples].sort((left, right) => left - right);
  return { p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9) };
}

async function largestDifference(pair: LoadedPair, images: RgbImage[]): Promise<number> {
  let largest = 0;
  for (const image of images.slice(0, 5)) {
    const fromKeras = await pair.keras.classify(image);
    const fromOnnx = await pair.onnx.classify(image);
    fromKeras.forEach((value, index) => (largest = Math.max(largest, Math.abs(value - (fromOnnx[index] ?? Number.NaN)))));
  }
  return largest;
}

/**
 * Evaluates the network with the reference layers on the same input tensor that ONNX
 * Runtime receives, and compares the probabilities with the ONNX file's.
 */
async function benchJavaScript(evaluate: (input: Tensor) => Tensor, onnx: LoadedModel, images: RgbImage[]): Promise<JavaScriptResult> {
  let totalMs = 0;
  let largest = 0;
  for (const image of images) {
    const input = toInputTensor(image, { layout: 'nhwc', scaling: { mode: 'symmetric', mean: [0, 0, 0], std: [1, 1, 1] }, channelOrder: 'rgb' });
    const started = performance.now();
    const output = evaluate({ shape: [1, image.height, image.width, 3], data: Float64Array.from(input) });
    totalMs += performance.now() - started;
    const fromOnnx = await onnx.classify(image);
    output.data.forEach((value, index) => (largest = Math.max(largest, Math.abs(value - (fromOnnx[index] ?? Number.NaN)))));
  }
  return { images: images.length, msPerImage: totalMs / images.length, maxAbsDifference: largest };
}

function logJavaScript(javascript: JavaScriptResult, mobileNet: PairResult, log: (line: string) => void): void {
  const times = javascript.msPerImage / mobileNet.onnxP50Ms;
  log(`  MobileNetV2 in pure JavaScript (reference layers, float64): ${javascript.msPerImage.toFixed(0)} ms per image over ${javascript.images} images, ${times.toFixed(0)}x the ONNX p50; largest probability difference to ONNX Runtime ${javascript.maxAbsDifference.toExponential(1)}`);
}

/** Decodes the example HAM10000 photos once, as the engine decodes uploads. */
async function decodePhotos(): Promise<RgbImage[]> {
  const folders = (await readdir(EXAMPLE_IMAGES, { withFileTypes: true })).filter((entry) => entry.isDirectory());
  const paths = (await Promise.all(folders.map(async (entry) => (await readdir(join(EXAMPLE_IMAGES, entry.name))).map((name) => join(EXAMPLE_IMAGES, entry.name, name))))).flat();
  const photos: RgbImage[] = [];
  for (const path of paths.filter((file) => file.endsWith('.jpg')).sort()) photos.push(await decodeImage(await readFile(path), CONFIG_DEFAULTS.limits));
  return photos;
}


/** The options `npm run bench` uses by default. */
export const DEFAULT_KERAS_BENCH_OPTIONS: KerasBenchOptions = { mobileNetRuns: 200, hamRuns: 1000, warmupRuns: 10, javascriptImages: 3 };

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`);
  log(JSON.stringify(await runKerasBench(DEFAULT_KERAS_BENCH_OPTIONS, log)));
}
