import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { CascadeError, describeError } from '../shared/errors.js';
import { assertChecksum, digestFile, normalizeSha256 } from './checksum.js';
import { parseModelRefAs } from './ref.js';
import type { FetchRequest, FetchedFile, ModelSource } from './types.js';

/**
 * Serves model files that are already on this machine. The file is hashed in place and
 * returned by its own path. It is neither copied into the cache nor recorded there.
 */
export class LocalSource implements ModelSource {
  readonly kind = 'local' as const;

  async fetch(request: FetchRequest): Promise<FetchedFile> {
    const { path } = parseModelRefAs(request.ref, 'local');
    const logger = request.logger.child({ source: this.kind, ref: path });

    try {
      const expected = normalizeSha256(request.sha256, path);
      await assertReadableFile(path);
      const digest = await digestFile(path, request.signal);
      assertChecksum(expected, digest.sha256, path);

      logger.info({ sha256: digest.sha256, bytes: digest.sizeBytes }, 'local model file checked');
      return { path, sha256: digest.sha256, sizeBytes: digest.sizeBytes, fromCache: false };
    } catch (error) {
      if (request.signal?.aborted === true) throw request.signal.reason;
      const failure = toCascadeError(error, path);
      logger.error({ code: failure.code, err: failure.message }, 'model fetch failed');
      throw failure;
    }
  }
}

async function assertReadableFile(path: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await stat(path)).isFile();
  } catch (error) {
    throw localFileError(path, `it cannot be found (${describeError(error)})`, 'Check the path in `model`');
  }
  if (!isFile) throw localFileError(path, 'it is not a regular file', 'Point `model` at the model file itself');

  try {
    await access(path, constants.R_OK);
  } catch {
    throw localFileError(path, 'this process may not read it', 'Grant read permission to the user that runs Cascade');
  }
}

function localFileError(path: string, reason: string, fix: string): CascadeError {
  return new CascadeError('MODEL_FETCH_FAILED', `Model file ${path} cannot be used: ${reason}. ${fix}.`, { ref: path, path });
}

function toCascadeError(error: unknown, path: string): CascadeError {
  if (error instanceof CascadeError) return error;
  return new CascadeError('MODEL_FETCH_FAILED', `Reading model file ${path} failed: ${describeError(error)}.`, { ref: path, path }, { cause: error });
}
