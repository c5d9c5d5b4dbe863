import type { Logger } from '../shared/logger.js';

/** Settings shared by every model source, validated once at start. */
export interface SourceSettings {
  /** Folder of the content-addressed cache: files are stored as `<sha256>` under it. */
  cacheDir: string;
  /** Base URL of Google Drive's download endpoint; tests point it at a loopback server. */
  driveBaseUrl: string;
  /** Attempts per download, the first one included. */
  maxAttempts: number;
  /** First backoff delay; each retry doubles it, with jitter. */
  retryBaseDelayMs: number;
  /** Per-attempt timeout for connecting and for each chunk of the body. */
  requestTimeoutMs: number;
  /** Draw a progress bar on stderr when it is a terminal. */
  progress: boolean;
}

export interface FetchRequest {
  /** Google Drive file id, http(s) URL or local path, as written in the configuration. */
  ref: string;
  /** Expected sha256 (lowercase hex); a mismatch fails the fetch and nothing is cached. */
  sha256: string | null;
  signal?: AbortSignal;
  logger: Logger;
}

export interface FetchedFile {
  /** Local path of the file; for remote sources, a file inside the cache. */
  path: string;
  sha256: string;
  sizeBytes: number;
  fromCache: boolean;
}

export type SourceKind = 'local' | 'http' | 'gdrive';

export interface ModelSource {
  readonly kind: SourceKind;
  fetch(request: FetchRequest): Promise<FetchedFile>;
}
