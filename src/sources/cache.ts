import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { Logger } from '../shared/logger.js';
import { digestFile, type FileDigest } from './checksum.js';

const refEntrySchema = z.object({
  ref: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  sizeBytes: z.number().int().nonnegative(),
  storedAt: z.string(),
});

type RefEntry = z.infer<typeof refEntrySchema>;

/**
 * The content-addressed model cache.
 *
 * Layout under the cache folder:
 * - `<sha256>`: a downloaded model file, named by the sha256 of its bytes;
 * - `refs/<sha256 of the ref>.json`: which file a ref last downloaded to, so a ref
 *   fetched without an expected sha256 is still served from the cache;
 * - `tmp/<uuid>.part`: downloads in progress, renamed into place only once complete
 *   and verified.
 *
 * One small file per ref, each written by rename, keeps concurrent fetches of different
 * refs from overwriting each other's entries.
 *
 * A `.part` file left by a process that crashed mid-download is deleted by the next
 * download once it has not been written to for `STALE_PART_MS`.
 */
/**
 * A download in progress writes its `.part` file every few seconds at most (the body
 * timeout is 30 s by default), so one untouched for a day belongs to a dead process.
 */
export const STALE_PART_MS = 24 * 60 * 60 * 1000;

/** Deletes abandoned `.part` files; best effort, because another process may race it. */
async function removeStaleParts(tempDir: string, now: number): Promise<void> {
  const names = await readdir(tempDir).catch(() => []);
  for (const name of names.filter((entry) => entry.endsWith('.part'))) {
    const path = join(tempDir, name);
    const info = await stat(path).catch(() => null);
    if (info !== null && now - info.mtimeMs > STALE_PART_MS) await rm(path, { force: true });
  }
}

export class ModelCache {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  pathFor(sha256: string): string {
    return join(this.dir, sha256);
  }

  /**
   * Returns the cached file with this sha256, or null. The file is hashed again, and
   * one whose bytes no longer match its name is deleted and reported as missing.
   */
  async findByHash(sha256: string, logger: Logger, signal?: AbortSignal): Promise<FileDigest | null> {
    const path = this.pathFor(sha256);
    if (!(await isFile(path))) return null;

    const digest = await digestFile(path, signal);
    if (digest.sha256 === sha256) return digest;

    logger.warn({ path, expected: sha256, actual: digest.sha256 }, 'cached model file is corrupt, deleting it');
    await rm(path, { force: true });
    return null;
  }

  /** Returns the file that `ref` last downloaded to, or null when none is cached. */
  async findByRef(ref: string, logger: Logger, signal?: AbortSignal): Promise<FileDigest | null> {
    const entry = await this.readRefEntry(ref, logger);
    if (entry === null) return null;
    return this.findByHash(entry.sha256, logger, signal);
  }

  /** Returns a fresh path for a download in progress, inside the cache folder so rename stays atomic. */
  async createTempPath(now = Date.now()): Promise<string> {
    const tempDir = join(this.dir, 'tmp');
    await mkdir(tempDir, { recursive: true });
    await removeStaleParts(tempDir, now);
    return join(tempDir, `${randomUUID()}.part`);
  }

  /** Moves a verified download to `<sha256>` and records that `ref` resolves to it. */
  async commit(tempPath: string, digest: FileDigest, ref: string): Promise<string> {
    const finalPath = this.pathFor(digest.sha256);
    await rename(tempPath, finalPath);
    await this.recordRef(ref, digest);
    return finalPath;
  }

  /** Records that `ref` resolves to the cached file with this digest. */
  async recordRef(ref: string, digest: FileDigest): Promise<void> {
    const entry: RefEntry = { ref, sha256: digest.sha256, sizeBytes: digest.sizeBytes, storedAt: new Date().toISOString() };
    const entryPath = this.refEntryPath(ref);
    const tempPath = await this.createTempPath();

    await mkdir(join(this.dir, 'refs'), { recursive: true });
    await writeFile(tempPath, `${JSON.stringify(entry)}\n`);
    await rename(tempPath, entryPath);
  }

  private async readRefEntry(ref: string, logger: Logger): Promise<RefEntry | null> {
    const entryPath = this.refEntryPath(ref);
    let text: string;
    try {
      text = await readFile(entryPath, 'utf8');
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }

    const parsed = refEntrySchema.safeParse(safeJsonParse(text));
    if (!parsed.success || parsed.data.ref !== ref) {
      logger.warn({ path: entryPath }, 'ignoring an unreadable model cache entry');
      return null;
    }
    return parsed.data;
  }

  private refEntryPath(ref: string): string {
    const key = createHash('sha256').update(ref).digest('hex');
    return join(this.dir, 'refs', `${key}.json`);
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && 'code' in error && error.code === 'ENOENT';
}

function safeJsonParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
