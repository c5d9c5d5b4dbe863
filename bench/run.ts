/**
 * `npm run bench`: prints each measurement as it finishes and, as the last line, one
 * JSON object with every figure, for scripts. Sizes can be set with environment
 * variables BENCH_REQUESTS, BENCH_WARMUP, BENCH_CONCURRENCY and BENCH_ROUNDS (turns
 * each side of the cascade section takes), BENCH_HOST_REQUESTS for the inference host
 * section, and BENCH_KERAS_RUNS and BENCH_KERAS_JS_IMAGES for the Keras section.
 */
import { cpus } from 'node:os';
import { runCascadeBench } from './cascade-bench.js';
import { runHostBench } from './host-bench.js';
import { DEFAULT_KERAS_BENCH_OPTIONS, runKerasBench } from './keras-bench.js';

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const options = {
  requests: envNumber('BENCH_REQUESTS', 400),
  warmup: envNumber('BENCH_WARMUP', 40),
  concurrency: envNumber('BENCH_CONCURRENCY', 4),
  rounds: Math.floor(envNumber('BENCH_ROUNDS', 4)),
};
const log = (line: string): void => void process.stdout.write(`${line}\n`);

log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`);
const cascade = await runCascadeBench(options, log);
const throughputRatio = cascade.http.imagesPerSecond / cascade.inProcess.imagesPerSecond;
const cpuPerImageRatio = cascade.httpCpuMsPerImage / cascade.inProcessCpuMsPerImage;
log(`HTTP / in-process throughput ratio: ${throughputRatio.toFixed(3)}; p50 latency ratio ${(cascade.http.p50Ms / cascade.inProcess.p50Ms).toFixed(3)}; CPU per image ratio ${cpuPerImageRatio.toFixed(3)}`);
const host = await runHostBench({
  requests: envNumber('BENCH_HOST_REQUESTS', 200),
  warmup: options.warmup,
  concurrency: options.concurrency,
  rounds: options.rounds,
  probeIntervalMs: 5,
}, log);
const hostThroughputRatio = host.thread.predictions.imagesPerSecond / host.inline.predictions.imagesPerSecond;
const healthP99Ratio = host.thread.healthP99Ms / host.inline.healthP99Ms;
log(`thread / inline throughput ratio: ${hostThroughputRatio.toFixed(3)}; /healthz p99 ratio ${healthP99Ratio.toFixed(3)}`);
const keras = await runKerasBench({
  ...DEFAULT_KERAS_BENCH_OPTIONS,
  mobileNetRuns: envNumber('BENCH_KERAS_RUNS', DEFAULT_KERAS_BENCH_OPTIONS.mobileNetRuns),
  javascriptImages: envNumber('BENCH_KERAS_JS_IMAGES', DEFAULT_KERAS_BENCH_OPTIONS.javascriptImages),
}, log);

const summary = {
  httpImagesPerSecond: round(cascade.http.imagesPerSecond),
  inProcessImagesPerSecond: round(cascade.inProcess.imagesPerSecond),
  throughputRatio: round(throughputRatio, 3),
  httpP50Ms: round(cascade.http.p50Ms),
  httpP99Ms: round(cascade.http.p99Ms),
  inProcessP50Ms: round(cascade.inProcess.p50Ms),
  inProcessP99Ms: round(cascade.inProcess.p99Ms),
  httpFailures: cascade.http.failures,
  httpCpuMsPerImage: round(cascade.httpCpuMsPerImage),
  inProcessCpuMsPerImage: round(cascade.inProcessCpuMsPerImage),
  cpuPerImageRatio: round(cpuPerImageRatio, 3),
  modelParameters: cascade.parameters,
  threadHostImagesPerSecond: round(host.thread.predictions.imagesPerSecond),
  inlineHostImagesPerSecond: round(host.inline.predictions.imagesPerSecond),
  hostThroughputRatio: round(hostThroughputRatio, 3),
  threadHostHealthP99Ms: round(host.thread.healthP99Ms),
  inlineHostHealthP99Ms: round(host.inline.healthP99Ms),
  healthP99Ratio: round(healthP99Ratio, 3),
  requests: options.requests,
  concurrency: options.concurrency,
  kerasMsPerImage: round(keras.mobileNet.kerasP50Ms, 3),
  onnxMsPerImage: round(keras.mobileNet.onnxP50Ms, 3),
  kerasOnnxRatio: round(keras.mobileNet.ratio, 3),
  kerasConversionMs: round(keras.mobileNet.conversionMs),
  kerasCachedLoadMs: round(keras.mobileNet.cachedLoadMs),
  kerasModelLoadMs: round(keras.mobileNet.kerasLoadMs),
  onnxModelLoadMs: round(keras.mobileNet.onnxLoadMs),
  kerasParameters: keras.mobileNet.parameters,
  hamKerasMsPerImage: round(keras.ham.kerasP50Ms, 3),
  hamOnnxMsPerImage: round(keras.ham.onnxP50Ms, 3),
  hamKerasOnnxRatio: round(keras.ham.ratio, 3),
  hamConversionMs: round(keras.ham.conversionMs),
  hamCachedLoadMs: round(keras.ham.cachedLoadMs),
  javascriptMsPerImage: keras.javascript === null ? null : round(keras.javascript.msPerImage),
  javascriptImages: keras.javascript?.images ?? 0,
  javascriptOnnxRatio: keras.javascript === null ? null : round(keras.javascript.msPerImage / keras.mobileNet.onnxP50Ms, 1),
  javascriptMaxAbsDifference: keras.javascript?.maxAbsDifference ?? null,
};
log(JSON.stringify(summary));

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
