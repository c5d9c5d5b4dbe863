/**
 * `npm run bench`: prints each measurement as it finishes and, as the last line, one
 * JSON object with every figure, for scripts. Sizes can be set with environment
 * variables BENCH_REQUESTS, BENCH_WARMUP and BENCH_CONCURRENCY.
 */
import { cpus } from 'node:os';
import { runCascadeBench } from './cascade-bench.js';

function envNumber(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
}

const options = {
  requests: envNumber('BENCH_REQUESTS', 400),
  warmup: envNumber('BENCH_WARMUP', 40),
  concurrency: envNumber('BENCH_CONCURRENCY', 4),
};
const log = (line: string): void => void process.stdout.write(`${line}\n`);

log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown CPU'}, Node.js ${process.version}`);
const cascade = await runCascadeBench(options, log);
const throughputRatio = cascade.http.imagesPerSecond / cascade.inProcess.imagesPerSecond;
log(`HTTP / in-process throughput ratio: ${throughputRatio.toFixed(3)}; p50 latency ratio ${(cascade.http.p50Ms / cascade.inProcess.p50Ms).toFixed(3)}`);

const summary = {
  httpImagesPerSecond: round(cascade.http.imagesPerSecond),
  inProcessImagesPerSecond: round(cascade.inProcess.imagesPerSecond),
  throughputRatio: round(throughputRatio, 3),
  httpP50Ms: round(cascade.http.p50Ms),
  httpP99Ms: round(cascade.http.p99Ms),
  inProcessP50Ms: round(cascade.inProcess.p50Ms),
  inProcessP99Ms: round(cascade.inProcess.p99Ms),
  httpFailures: cascade.http.failures,
  modelParameters: cascade.parameters,
  requests: options.requests,
  concurrency: options.concurrency,
};
log(JSON.stringify(summary));

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
