import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export interface RetryPolicy {
  /** Attempts in total, the first one included. */
  maxAttempts: number;
  /** Backoff before the second attempt. Each later retry doubles it. */
  baseDelayMs: number;
  /** Ceiling of the exponential backoff. */
  maxDelayMs: number;
  /** Ceiling of a server's Retry-After, so a hint of hours cannot stall a model load. */
  maxRetryAfterMs: number;
}

/** Ceiling of the exponential backoff between download attempts. */
export const MAX_BACKOFF_MS = 30_000;
/** Ceiling applied to a server's Retry-After header. */
export const MAX_RETRY_AFTER_MS = 60_000;

/**
 * A failure worth another attempt: a network error, a timeout, a truncated body, or an
 * HTTP 429 or 5xx response. Every other error ends the retry loop at once.
 */
export class TransientError extends Error {
  /** Delay requested by the server's Retry-After before capping, or null when it sent none. */
  readonly retryAfterMs: number | null;

  constructor(message: string, retryAfterMs: number | null = null, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Computes the wait before the next attempt: `baseDelayMs * 2^(attempt - 1)`, capped at
 * `maxDelayMs`, with jitter that keeps between half and all of it. A Retry-After hint
 * (capped at `maxRetryAfterMs`) is honoured when it is longer.
 */
export function backoffDelayMs(
  policy: RetryPolicy,
  failedAttempt: number,
  retryAfterMs: number | null,
  random: () => number = Math.random,
): number {
  const exponentialMs = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempt - 1));
  const jitteredMs = exponentialMs / 2 + (random() * exponentialMs) / 2;
  if (retryAfterMs === null) return Math.round(jitteredMs);
  return Math.round(Math.max(jitteredMs, Math.min(retryAfterMs, policy.maxRetryAfterMs)));
}

/**
 * Parses a Retry-After header, either delay-seconds or an HTTP date, into milliseconds
 * from `nowMs`. Returns null when the header is absent or unreadable.
 */
export function parseRetryAfterMs(header: string | undefined, nowMs: number = Date.now()): number | null {
  if (header === undefined) return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;

  const dateMs = Date.parse(value);
  if (Number.isNaN(dateMs)) return null;
  return Math.max(0, dateMs - nowMs);
}

export interface RetryContext {
  policy: RetryPolicy;
  logger: Logger;
  signal?: AbortSignal | undefined;
}

/**
 * Runs `operation` until it succeeds, throws a non-transient error, or uses up
 * `maxAttempts`. After the last attempt, the last TransientError is thrown. Aborting the
 * signal, during an attempt or during a backoff wait, rejects with `signal.reason` at once.
 */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, context: RetryContext): Promise<T> {
  const { policy, logger, signal } = context;
  const maxAttempts = Math.max(1, policy.maxAttempts);

  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await operation(attempt);
    } catch (error) {
      signal?.throwIfAborted();
      if (!(error instanceof TransientError) || attempt >= maxAttempts) throw error;

      const delayMs = backoffDelayMs(policy, attempt, error.retryAfterMs);
      logger.warn({ attempt, maxAttempts, delayMs, err: describeError(error) }, 'model download attempt failed, retrying');
      await waitForBackoff(delayMs, signal);
    }
  }
}

async function waitForBackoff(delayMs: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(delayMs, undefined, signal === undefined ? {} : { signal });
  } catch (error) {
    // timers/promises wraps the reason in its own AbortError, but callers expect their own reason.
    signal?.throwIfAborted();
    throw error;
  }
}
