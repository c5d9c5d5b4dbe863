/** Latency summary of one benchmark run. */
export interface RunStats {
  requests: number;
  failures: number;
  seconds: number;
  imagesPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
}

export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

export function summarize(latenciesMs: number[], failures: number, seconds: number): RunStats {
  const sorted = [...latenciesMs].sort((left, right) => left - right);
  return {
    requests: latenciesMs.length,
    failures,
    seconds,
    imagesPerSecond: latenciesMs.length / seconds,
    p50Ms: percentile(sorted, 0.5),
    p90Ms: percentile(sorted, 0.9),
    p99Ms: percentile(sorted, 0.99),
  };
}

/**
 * Runs `task` `total` times with `concurrency` workers and records each call's latency.
 * A failed call is counted, not timed.
 */
export async function runClosedLoop(total: number, concurrency: number, task: (index: number) => Promise<void>): Promise<RunStats> {
  const latencies: number[] = [];
  let failures = 0;
  let next = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const index = next;
      next += 1;
      const callStarted = process.hrtime.bigint();
      try {
        await task(index);
        latencies.push(Number(process.hrtime.bigint() - callStarted) / 1e6);
      } catch {
        failures += 1;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, () => worker()));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return summarize(latencies, failures, seconds);
}

export function formatStats(name: string, stats: RunStats): string {
  return `${name.padEnd(28)} ${stats.imagesPerSecond.toFixed(1).padStart(8)} img/s   p50 ${stats.p50Ms.toFixed(2).padStart(7)} ms   p90 ${stats.p90Ms.toFixed(2).padStart(7)} ms   p99 ${stats.p99Ms.toFixed(2).padStart(7)} ms   (${stats.requests} ok, ${stats.failures} failed)`;
}
