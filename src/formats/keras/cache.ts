/**
 * The on-disk cache of converted Keras models: `<cacheDir>/onnx/<sha256>.onnx` with
 * the graph and `<sha256>.json` with the rest of the ConvertedModel. The JSON
 * records the converter version, so graphs from an older converter are rebuilt.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { ConvertedModel } from '../types.js';

/** Bump whenever the converter emits a different graph for the same file. */
export const KERAS_CONVERTER_VERSION = 1;

const dims = z.array(z.number().int().nonnegative().nullable());

const cacheRecordSchema = z.object({
  converterVersion: z.literal(KERAS_CONVERTER_VERSION),
  sha256: z.string(),
  inputShape: dims,
  outputShape: dims,
  layout: z.enum(['nhwc', 'nchw']),
  hints: z.object({
    height: z.number().int().nullable(),
    width: z.number().int().nullable(),
    rescalesInGraph: z.boolean(),
    resizesInGraph: z.boolean(),
  }),
  layers: z.array(z.object({ name: z.string(), className: z.string(), handling: z.string(), outputShape: dims })),
  description: z.string(),
});

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest('hex');
}

function cachePaths(cacheDir: string, sha256: string): { folder: string; graph: string; record: string } {
  const folder = join(cacheDir, 'onnx');
  return { folder, graph: join(folder, `${sha256}.onnx`), record: join(folder, `${sha256}.json`) };
}

/** Returns the cached conversion, or null when it is missing, unreadable or from another converter version. */
export async function readCachedModel(cacheDir: string, sha256: string): Promise<ConvertedModel | null> {
  const paths = cachePaths(cacheDir, sha256);
  let recordText: string;
  let onnx: Buffer;
  try {
    recordText = await readFile(paths.record, 'utf8');
    onnx = await readFile(paths.graph);
  } catch {
    return null;
  }
  let json: unknown;
  try {
    json = JSON.parse(recordText);
  } catch {
    return null;
  }
  const parsed = cacheRecordSchema.safeParse(json);
  if (!parsed.success || parsed.data.sha256 !== sha256) return null;
  const { converterVersion: _version, sha256: _sha, ...model } = parsed.data;
  return { ...model, onnx: new Uint8Array(onnx.buffer, onnx.byteOffset, onnx.byteLength) };
}

/**
 * Writes the graph, then the JSON record. Each goes to a temporary name first and
 * is then renamed, so a reader never sees a half-written file. Writing the record
 * last means a record never points at a missing graph.
 */
export async function writeCachedModel(cacheDir: string, sha256: string, model: ConvertedModel): Promise<void> {
  const paths = cachePaths(cacheDir, sha256);
  await mkdir(paths.folder, { recursive: true });
  const { onnx, ...rest } = model;
  await writeAtomically(paths.graph, onnx);
  const record = { converterVersion: KERAS_CONVERTER_VERSION, sha256, ...rest };
  await writeAtomically(paths.record, `${JSON.stringify(record, null, 2)}\n`);
}

async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, data);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
