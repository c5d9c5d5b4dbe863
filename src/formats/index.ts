/** Chooses the ModelFormat of a model file from its first bytes (or the declared format). */
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { CascadeError } from '../shared/errors.js';
import { createKerasFormat, kerasFormat, type KerasConvertOptions } from './keras/convert.js';
import { hasHdf5Signature } from './keras/hdf5.js';
import { looksLikeOnnx, onnxFormat } from './onnx.js';
import type { ModelFormat } from './types.js';

export type { ConvertedModel, LayerReport, ModelFormat, ModelHints } from './types.js';
export { convertKerasFile, createKerasFormat, kerasFormat } from './keras/convert.js';
export { onnxFormat } from './onnx.js';

const HEAD_BYTES = 16;

/**
 * Returns the format for `path`. With `declared` set to 'onnx' or 'keras' that
 * format is used as is (its `convert` reports a file that does not match). With
 * 'auto', an HDF5 signature means Keras, and a ModelProto start or the `.onnx`
 * extension means ONNX. `options.cacheDir` enables the Keras conversion cache.
 */
export async function detectFormat(path: string, declared: 'auto' | 'onnx' | 'keras', options: KerasConvertOptions = {}): Promise<ModelFormat> {
  const keras = options.cacheDir === undefined ? kerasFormat : createKerasFormat(options);
  if (declared === 'onnx') return onnxFormat;
  if (declared === 'keras') return keras;
  const head = await readHead(path);
  if (hasHdf5Signature(head)) return keras;
  if (looksLikeOnnx(head) || extname(path).toLowerCase() === '.onnx') return onnxFormat;
  const shown = Array.from(head.subarray(0, 8), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
  const found = head.length === 0 ? 'the file is empty' : `it starts with bytes ${shown}`;
  throw new CascadeError(
    'MODEL_FORMAT_UNKNOWN',
    `${path}: the model format is not recognised (${found}); expected a Keras HDF5 file (.h5) or an ONNX file (.onnx), or set the model's format explicitly`,
    { file: path },
  );
}

async function readHead(path: string): Promise<Uint8Array> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${path}: the model file could not be opened (${error instanceof Error ? error.message : String(error)})`, { file: path }, { cause: error });
  }
  try {
    const buffer = new Uint8Array(HEAD_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEAD_BYTES, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
