import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { CascadeError, describeError, isCascadeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { ModelCache } from './cache.js';
import { DigestStream, assertChecksum, normalizeSha256, type FileDigest } from './checksum.js';
import { HttpClient, asTransientIfNetwork, contentLengthOf, type OpenedResponse } from './http-client.js';
import { createProgressReporter } from './progress.js';
import { MAX_BACKOFF_MS, MAX_RETRY_AFTER_MS, TransientError, withRetry, type RetryPolicy } from './retry.js';
import type { FetchRequest, FetchedFile, SourceKind, SourceSettings } from './types.js';

/** The part of a download that differs between remote sources. */
export interface RemoteFile {
  kind: Exclude<SourceKind, 'local'>;
  /** Key of the cache's ref index. Different spellings of one Drive file share it. */
  cacheKey: string;
  /** The ref as logs and messages show it, without any query string. */
  shownRef: string;
  /**
   * Opens a response whose body is the model file. Throws TransientError for failures
   * worth another attempt and CascadeError for final ones.
   */
  open(client: HttpClient, logger: Logger): Promise<OpenedResponse>;
}

interface Context {
  file: RemoteFile;
  settings: SourceSettings;
  cache: ModelCache;
  logger: Logger;
  signal: AbortSignal | undefined;
}

interface PartialDownload {
  tempPath: string;
  digest: FileDigest;
}

/**
 * Fetches a remote model file into the content-addressed cache.
 *
 * With an expected sha256 whose file is cached, nothing is sent over the network. Without
 * one, a ref fetched before is served from the cache. Otherwise the body streams to a
 * temporary file while it is hashed, with retries on transient failures, and is renamed
 * to `<cacheDir>/<sha256>` only after the checksum passes. Aborting `request.signal`
 * rejects with its reason.
 */
export async function fetchRemoteFile(file: RemoteFile, request: FetchRequest, settings: SourceSettings): Promise<FetchedFile> {
  const logger = request.logger.child({ source: file.kind, ref: file.shownRef });
  const context: Context = { file, settings, cache: new ModelCache(settings.cacheDir), logger, signal: request.signal };

  try {
    const expected = normalizeSha256(request.sha256, file.shownRef);
    const cached = await findCached(context, expected);
    if (cached !== null) return cached;
    return await download(context, expected);
  } catch (error) {
    throw reportFailure(context, error);
  }
}

async function findCached(context: Context, expected: string | null): Promise<FetchedFile | null> {
  const { cache, file, logger, signal } = context;
  const digest = expected === null ? await cache.findByRef(file.cacheKey, logger, signal) : await cache.findByHash(expected, logger, signal);
  if (digest === null) return null;

  // A file found by its hash may have come from another ref, so record this one too.
  if (expected !== null) await cache.recordRef(file.cacheKey, digest);
  logger.info({ sha256: digest.sha256, bytes: digest.sizeBytes }, 'model served from cache');
  return { path: cache.pathFor(digest.sha256), sha256: digest.sha256, sizeBytes: digest.sizeBytes, fromCache: true };
}

async function download(context: Context, expected: string | null): Promise<FetchedFile> {
  const { settings, logger, signal } = context;
  const startedMs = performance.now();
  const client = new HttpClient({ requestTimeoutMs: settings.requestTimeoutMs, signal });
  logger.info({ maxAttempts: settings.maxAttempts }, 'model download started');

  let partial: PartialDownload;
  try {
    partial = await withRetry(() => downloadAttempt(context, client), { policy: retryPolicyOf(settings), logger, signal });
  } finally {
    await client.close();
  }

  const fetched = await verifyAndCommit(context, partial, expected);
  const elapsedMs = Math.round(performance.now() - startedMs);
  logger.info({ bytes: fetched.sizeBytes, sha256: fetched.sha256, ms: elapsedMs }, 'model download finished');
  return fetched;
}

async function downloadAttempt(context: Context, client: HttpClient): Promise<PartialDownload> {
  const tempPath = await context.cache.createTempPath();
  try {
    const response = await context.file.open(client, context.logger);
    const digest = await writeBody(context, response, tempPath);
    return { tempPath, digest };
  } catch (error) {
    await rm(tempPath, { force: true });
    throw asTransientIfNetwork(error);
  }
}

/** Streams the body to `tempPath` through the hash, so memory use does not grow with the file. */
async function writeBody(context: Context, response: OpenedResponse, tempPath: string): Promise<FileDigest> {
  const totalBytes = contentLengthOf(response.headers);
  const progress = createProgressReporter({
    enabled: context.settings.progress,
    stream: process.stderr,
    logger: context.logger,
    label: context.file.shownRef,
    totalBytes,
  });
  const tap = new DigestStream((receivedBytes) => progress.update(receivedBytes));
  const options = context.signal === undefined ? {} : { signal: context.signal };

  try {
    await pipeline(response.body, tap, createWriteStream(tempPath), options);
  } finally {
    progress.finish();
  }

  const digest = tap.digest();
  if (totalBytes !== null && digest.sizeBytes !== totalBytes) {
    throw new TransientError(`the body ended after ${digest.sizeBytes} of ${totalBytes} bytes`);
  }
  return digest;
}

async function verifyAndCommit(context: Context, partial: PartialDownload, expected: string | null): Promise<FetchedFile> {
  const { cache, file } = context;
  try {
    assertChecksum(expected, partial.digest.sha256, file.shownRef);
  } catch (error) {
    await rm(partial.tempPath, { force: true });
    throw error;
  }

  const path = await cache.commit(partial.tempPath, partial.digest, file.cacheKey);
  return { path, sha256: partial.digest.sha256, sizeBytes: partial.digest.sizeBytes, fromCache: false };
}

function retryPolicyOf(settings: SourceSettings): RetryPolicy {
  return {
    maxAttempts: settings.maxAttempts,
    baseDelayMs: settings.retryBaseDelayMs,
    maxDelayMs: MAX_BACKOFF_MS,
    maxRetryAfterMs: MAX_RETRY_AFTER_MS,
  };
}

/** Logs a failed fetch and returns the error to throw: the abort reason, a CascadeError, or one wrapping the cause. */
function reportFailure(context: Context, error: unknown): unknown {
  const { file, logger, signal, settings } = context;
  if (signal?.aborted === true) {
    logger.info('model fetch aborted');
    return signal.reason;
  }

  const failure = toCascadeError(error, file.shownRef, Math.max(1, settings.maxAttempts));
  logger.error({ code: failure.code, err: failure.message }, 'model fetch failed');
  return failure;
}

function toCascadeError(error: unknown, shownRef: string, maxAttempts: number): CascadeError {
  if (isCascadeError(error)) return error;
  if (error instanceof TransientError) {
    return new CascadeError(
      'MODEL_FETCH_FAILED',
      `Downloading model '${shownRef}' failed after ${maxAttempts} attempts. The last error: ${error.message}. ` +
        'Check the network and the source, or allow more download attempts.',
      { ref: shownRef, attempts: maxAttempts },
      { cause: error },
    );
  }
  const hint = isFileSystemError(error)
    ? 'Check that the cache folder exists, is writable and has free space.'
    : 'Check the source in `model`.';
  return new CascadeError('MODEL_FETCH_FAILED', `Fetching model '${shownRef}' failed: ${describeError(error)}. ${hint}`, { ref: shownRef }, { cause: error });
}

/** Node's file system errors carry the path they failed on. */
function isFileSystemError(error: unknown): boolean {
  return error instanceof Error && 'path' in error && typeof error.path === 'string';
}
