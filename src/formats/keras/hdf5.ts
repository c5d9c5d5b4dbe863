/**
 * Read access to the parts of a Keras HDF5 file the converter needs: string
 * attributes and float datasets. h5wasm does the HDF5 work; this module checks the
 * file first so common breakage (not HDF5, truncated) gets a clear message instead
 * of h5wasm's generic "name not defined".
 */
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type h5wasmModule from 'h5wasm/node';
import { CascadeError } from '../../shared/errors.js';

type H5wasm = typeof h5wasmModule;
type H5File = InstanceType<H5wasm['File']>;

/** The 8-byte HDF5 format signature, at offset 0 in files written by h5py (Keras). */
export const HDF5_SIGNATURE = Uint8Array.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

export function hasHdf5Signature(head: Uint8Array): boolean {
  if (head.length < HDF5_SIGNATURE.length) return false;
  return HDF5_SIGNATURE.every((byte, index) => head[index] === byte);
}

export interface FloatDataset {
  data: Float32Array;
  shape: number[];
}

/** An open HDF5 file. Call `close()` when done; h5wasm holds the file until then. */
export interface Hdf5Reader {
  readonly path: string;
  /** A string attribute of a group (`'/'` for the root), or null when absent. */
  readString(groupPath: string, name: string): string | null;
  /**
   * A list-of-strings attribute such as `layer_names`. h5py splits attributes
   * larger than 64 KiB into `name0`, `name1`, ..., and Keras writes them that way;
   * this joins the parts. Returns null when absent; an empty list stays empty.
   */
  readStringList(groupPath: string, name: string): string[] | null;
  hasGroup(path: string): boolean;
  /** A float dataset converted to float32 (float16 and float64 are converted). */
  readFloats(path: string): FloatDataset;
  close(): void;
}

/**
 * Opens a Keras HDF5 file after checking its signature and its stored length, so a
 * non-HDF5 or truncated file fails with MODEL_LOAD_FAILED naming the reason.
 */
export async function openHdf5(filePath: string): Promise<Hdf5Reader> {
  const absolute = resolve(filePath);
  await checkHdf5Header(absolute);
  const h5wasm = await loadH5wasm();
  let file: H5File;
  try {
    file = new h5wasm.File(absolute, 'r');
  } catch (error) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${filePath}: HDF5 could not open the file (${describe(error)}); the file is damaged, download it again`, { file: filePath }, { cause: error });
  }
  return new H5wasmReader(filePath, file, h5wasm);
}

/**
 * Imports h5wasm on first use, because only processes that convert a Keras file need it.
 * Its module inlines the WebAssembly binary in 4 MB of JavaScript. Loaded at start, it
 * added about 10 MB to the V8 heap of every coordinator and engine (Node 20, h5wasm
 * 0.10). Under tsx, which also keeps the module's source map, it added about 90 MB, and
 * full garbage collections took longer. Node caches the module, so later calls return
 * the same instance.
 */
async function loadH5wasm(): Promise<H5wasm> {
  const { default: h5wasm } = await import('h5wasm/node');
  await h5wasm.ready;
  return h5wasm;
}

class H5wasmReader implements Hdf5Reader {
  readonly path: string;
  private readonly file: H5File;

  constructor(
    path: string,
    file: H5File,
    private readonly h5wasm: H5wasm,
  ) {
    this.path = path;
    this.file = file;
  }

  readString(groupPath: string, name: string): string | null {
    const value = this.attributeValue(groupPath, name);
    if (value === undefined) return null;
    if (typeof value === 'string') return value;
    if (value instanceof Uint8Array) return new TextDecoder().decode(value);
    if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0];
    throw this.invalid(`attribute '${name}' of '${groupPath}' is not a string`);
  }

  readStringList(groupPath: string, name: string): string[] | null {
    const whole = this.attributeValue(groupPath, name);
    if (whole !== undefined) return this.toStringList(whole, groupPath, name);
    const parts: string[] = [];
    for (let index = 0; ; index += 1) {
      const chunk = this.attributeValue(groupPath, `${name}${index}`);
      if (chunk === undefined) break;
      parts.push(...this.toStringList(chunk, groupPath, name));
    }
    return parts.length > 0 ? parts : null;
  }

  hasGroup(path: string): boolean {
    return this.file.get(path) instanceof this.h5wasm.Group;
  }

  readFloats(path: string): FloatDataset {
    const entity = this.file.get(path);
    if (!(entity instanceof this.h5wasm.Dataset)) throw this.invalid(`weight dataset '${path}' is missing`);
    const shape = entity.shape ?? [];
    const data = toFloat32(entity.value, entity.metadata.size, entity.metadata.type);
    if (data === null) throw this.invalid(`weight dataset '${path}' has dtype ${String(entity.dtype)}, expected a float type`);
    return { data, shape };
  }

  close(): void {
    this.file.close();
  }

  private attributeValue(groupPath: string, name: string): unknown {
    const entity = groupPath === '/' ? this.file : this.file.get(groupPath);
    if (entity === null || !(entity instanceof this.h5wasm.Group)) return undefined;
    const attribute = entity.attrs[name];
    if (attribute === undefined) return undefined;
    return attribute.value;
  }

  private toStringList(value: unknown, groupPath: string, name: string): string[] {
    if (typeof value === 'string') return [value];
    if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return value;
    // h5py writes an empty list as a zero-length float64 array.
    if (ArrayBuffer.isView(value) && 'length' in value && value.length === 0) return [];
    throw this.invalid(`attribute '${name}' of '${groupPath}' is not a list of strings`);
  }

  private invalid(reason: string): CascadeError {
    return new CascadeError('MODEL_LOAD_FAILED', `${this.path}: ${reason}; the file is not a complete Keras model file`, { file: this.path });
  }
}

const HDF5_FLOAT_CLASS = 1;

function toFloat32(value: unknown, size: number, typeClass: number): Float32Array | null {
  if (typeClass !== HDF5_FLOAT_CLASS) return null;
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  if (size === 2 && value instanceof Uint8Array) return halfToFloat32(value);
  return null;
}

/** Decodes little-endian IEEE 754 half-precision values (h5wasm returns their raw bytes). */
function halfToFloat32(bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.byteLength / 2);
  for (let index = 0; index < out.length; index += 1) {
    const bits = view.getUint16(index * 2, true);
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) out[index] = sign * 2 ** -14 * (fraction / 1024);
    else if (exponent === 0x1f) out[index] = fraction === 0 ? sign * Infinity : NaN;
    else out[index] = sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
  }
  return out;
}

/**
 * Checks the signature and compares the end-of-file address stored in the
 * superblock with the real file size. The layout of superblock versions 0 to 3 is
 * in the HDF5 File Format Specification, section II.A.
 */
async function checkHdf5Header(filePath: string): Promise<void> {
  const size = await fileSize(filePath);
  const head = await readHead(filePath, 96);
  if (!hasHdf5Signature(head)) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${filePath}: not an HDF5 file (the first bytes are not the HDF5 signature); give a Keras .h5 model or an .onnx file`, { file: filePath });
  }
  const storedEnd = storedEndOfFile(head);
  if (storedEnd !== null && storedEnd > size) {
    throw new CascadeError(
      'MODEL_LOAD_FAILED',
      `${filePath}: the HDF5 file is truncated: it has ${size} bytes but its header says ${storedEnd}; download the file again`,
      { file: filePath, sizeBytes: size, expectedBytes: storedEnd },
    );
  }
}

function storedEndOfFile(head: Uint8Array): number | null {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const version = head[8];
  let offsetSize: number | undefined;
  let baseAt: number;
  if (version === 0 || version === 1) {
    offsetSize = head[13];
    baseAt = version === 0 ? 24 : 28;
  } else if (version === 2 || version === 3) {
    offsetSize = head[9];
    baseAt = 12;
  } else {
    return null;
  }
  if (offsetSize !== 8 && offsetSize !== 4) return null;
  const readAddress = (at: number): number | null => {
    if (at + offsetSize > head.length) return null;
    const value = offsetSize === 8 ? view.getBigUint64(at, true) : BigInt(view.getUint32(at, true));
    const undefinedAddress = offsetSize === 8 ? 0xffffffffffffffffn : 0xffffffffn;
    return value === undefinedAddress ? null : Number(value);
  };
  const base = readAddress(baseAt);
  // v0/v1 keep the free-space address between base and end of file; v2/v3 keep the superblock extension address there.
  const end = readAddress(baseAt + 2 * offsetSize);
  if (base === null || end === null) return null;
  return base + end;
}

async function fileSize(filePath: string): Promise<number> {
  try {
    return (await stat(filePath)).size;
  } catch (error) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${filePath}: the model file could not be read (${describe(error)})`, { file: filePath }, { cause: error });
  }
}

async function readHead(filePath: string, length: number): Promise<Uint8Array> {
  const handle = await open(filePath, 'r');
  try {
    const buffer = new Uint8Array(length);
    const { bytesRead } = await handle.read(buffer, 0, length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
