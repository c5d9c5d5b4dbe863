import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CascadeError } from '../shared/errors.js';

const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export interface FileDigest {
  sha256: string;
  sizeBytes: number;
}

/**
 * Lowercases an expected sha256 and checks that it is 64 hex digits. The value becomes a
 * file name in the cache, so anything else is rejected before it reaches a path.
 */
export function normalizeSha256(expected: string | null, ref: string): string | null {
  if (expected === null) return null;
  const value = expected.trim().toLowerCase();
  if (!SHA256_PATTERN.test(value)) {
    throw new CascadeError(
      'MODEL_FETCH_FAILED',
      `Expected sha256 '${expected}' for model '${ref}' is not 64 hexadecimal digits. ` +
        'Fix `sha256` in the configuration or remove it.',
      { ref, expected },
    );
  }
  return value;
}

/** Throws MODEL_CHECKSUM_MISMATCH unless `actual` equals the expected sha256 (when one is given). */
export function assertChecksum(expected: string | null, actual: string, ref: string): void {
  if (expected === null || expected === actual) return;
  throw new CascadeError(
    'MODEL_CHECKSUM_MISMATCH',
    `Model file from '${ref}' has sha256 ${actual}, but the configuration expects ${expected}. ` +
      'If the file changed on purpose, update `sha256` in the configuration. Otherwise check the source.',
    { ref, expected, actual },
  );
}

/** Computes the sha256 and size of a file by streaming it, never holding it whole in memory. */
export async function digestFile(path: string, signal?: AbortSignal): Promise<FileDigest> {
  const tap = new DigestStream();
  const options = signal === undefined ? {} : { signal };
  await pipeline(createReadStream(path), tap, discardSink(), options);
  return tap.digest();
}

/**
 * A pass-through stream that hashes and counts the bytes flowing through it, so a
 * download is hashed while it is written and never read back.
 */
export class DigestStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private byteCount = 0;
  private readonly onBytes: ((byteCount: number) => void) | null;

  constructor(onBytes: ((byteCount: number) => void) | null = null) {
    super();
    this.onBytes = onBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.byteCount += chunk.length;
    this.onBytes?.(this.byteCount);
    callback(null, chunk);
  }

  /** Returns the sha256 and byte count. Call it once, after the stream has finished. */
  digest(): FileDigest {
    return { sha256: this.hash.digest('hex'), sizeBytes: this.byteCount };
  }
}

function discardSink(): Writable {
  return new Writable({
    write(_chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
      callback();
    },
  });
}
