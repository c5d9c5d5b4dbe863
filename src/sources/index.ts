import { DriveSource } from './gdrive.js';
import { HttpSource } from './http.js';
import { LocalSource } from './local.js';
import { parseModelRef } from './ref.js';
import type { ModelSource, SourceSettings } from './types.js';

export type { FetchRequest, FetchedFile, ModelSource, SourceKind, SourceSettings } from './types.js';
export { ACCEPTED_REF_FORMS, DRIVE_ID_PATTERN, displayRef, driveIdFromUrl, parseModelRef, type ParsedModelRef } from './ref.js';
export { digestFile, type FileDigest } from './checksum.js';
export { MAX_BACKOFF_MS, MAX_RETRY_AFTER_MS } from './retry.js';
export { DriveSource, driveDownloadUrl } from './gdrive.js';
export { HttpSource } from './http.js';
export { LocalSource } from './local.js';

/** Google Drive's public endpoint. Tests replace it through `driveBaseUrl`. */
export const GOOGLE_DRIVE_BASE_URL = 'https://drive.google.com';

/**
 * Returns the default source settings for a cache folder: 5 attempts per download with
 * backoff starting at 1 s, a 30 s timeout for connecting and between body chunks, and a
 * progress bar when stderr is a terminal.
 */
export function defaultSourceSettings(cacheDir: string): SourceSettings {
  return {
    cacheDir,
    driveBaseUrl: GOOGLE_DRIVE_BASE_URL,
    maxAttempts: 5,
    retryBaseDelayMs: 1_000,
    requestTimeoutMs: 30_000,
    progress: true,
  };
}

/**
 * Picks the source for a `model` value by its shape: an http(s) URL, an existing or
 * absolute local path, a Google Drive file id, `gdrive:<id>` or a Drive share link.
 * Throws MODEL_FETCH_FAILED, naming the accepted forms, for anything else.
 */
export function createSource(ref: string, settings: SourceSettings): ModelSource {
  const parsed = parseModelRef(ref);
  if (parsed.kind === 'local') return new LocalSource();
  if (parsed.kind === 'http') return new HttpSource(settings);
  return new DriveSource(settings);
}
