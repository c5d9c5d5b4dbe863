import { request } from 'undici';

export interface LoadCounts {
  ok: number;
  /** 200 responses that differ from the expected response: must stay 0. */
  wrong: number;
  /** Non-200 responses and transport errors, by code. */
  failed: Record<string, number>;
  wrongSamples: string[];
  /** First message seen per failure code, to explain the counts. */
  failureSamples: Record<string, string>;
}

export interface LoadTarget {
  bytes: Buffer;
  expected: unknown;
}

/**
 * Sends predictions in a closed loop (`concurrency` at a time, so the load is bounded)
 * until stopped, and checks every 200 response against the expected one.
 */
export class LoadGenerator {
  readonly counts: LoadCounts = { ok: 0, wrong: 0, failed: {}, wrongSamples: [], failureSamples: {} };
  private running = false;
  private workers: Promise<void>[] = [];
  private next = 0;

  constructor(
    private readonly url: () => string,
    private readonly targets: LoadTarget[],
    private readonly matches: (actual: unknown, expected: unknown) => boolean,
    private readonly concurrency = 2,
  ) {}

  start(): void {
    this.running = true;
    this.workers = Array.from({ length: this.concurrency }, () => this.work());
  }

  async stop(): Promise<LoadCounts> {
    this.running = false;
    await Promise.all(this.workers);
    return this.counts;
  }

  /** Failures since the start, all codes together. */
  get failures(): number {
    return Object.values(this.counts.failed).reduce((total, count) => total + count, 0);
  }

  private async work(): Promise<void> {
    while (this.running) {
      const target = this.targets[this.next % this.targets.length];
      this.next += 1;
      if (target === undefined) return;
      await this.sendOne(target);
    }
  }

  private async sendOne(target: LoadTarget): Promise<void> {
    try {
      const response = await request(`${this.url()}/v1/predict`, { method: 'POST', body: target.bytes, headers: { 'content-type': 'image/jpeg' }, signal: AbortSignal.timeout(15_000) });
      const body: unknown = await response.body.json().catch(() => null);
      if (response.statusCode !== 200) {
        const code = typeof body === 'object' && body !== null && 'code' in body ? String(body.code) : `HTTP_${response.statusCode}`;
        const message = typeof body === 'object' && body !== null && 'message' in body ? String(body.message) : '';
        this.count(code, message);
        return;
      }
      if (this.matches(body, target.expected)) {
        this.counts.ok += 1;
        return;
      }
      this.counts.wrong += 1;
      if (this.counts.wrongSamples.length < 3) this.counts.wrongSamples.push(JSON.stringify({ got: body, expected: target.expected }));
    } catch (error) {
      const code = error instanceof Error && 'code' in error ? String(error.code) : 'TRANSPORT_ERROR';
      this.count(code);
      // A refused connection answers at once; pause so a dead coordinator is not hammered.
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private count(code: string, message = ''): void {
    this.counts.failed[code] = (this.counts.failed[code] ?? 0) + 1;
    this.counts.failureSamples[code] ??= message;
  }
}

/** Returns whether two cascade responses agree: same labels in the same order, probabilities within 1e-6. */
export function sameAnswer(actual: unknown, expected: unknown): boolean {
  if (typeof actual !== 'object' || actual === null || typeof expected !== 'object' || expected === null) return false;
  const left = actual as { category?: unknown; propability?: unknown; secondModel?: unknown; predetection?: { diseases: string; probability: number }[] };
  const right = expected as typeof left;
  if (left.category !== right.category || left.secondModel !== right.secondModel) return false;
  if (typeof left.propability !== 'number' || typeof right.propability !== 'number' || Math.abs(left.propability - right.propability) > 1e-6) return false;
  const leftDiseases = left.predetection ?? [];
  const rightDiseases = right.predetection ?? [];
  if (leftDiseases.length !== rightDiseases.length) return false;
  return leftDiseases.every((entry, index) => entry.diseases === rightDiseases[index]?.diseases && Math.abs(entry.probability - (rightDiseases[index]?.probability ?? -1)) <= 1e-6);
}
