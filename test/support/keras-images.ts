/**
 * Image decoding for tests that run real Keras models: sharp decodes the file to
 * RGB, and the resize follows what the model was trained with.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { resizeNearestPil } from '../../src/formats/pil-nearest.js';
import { REPO_ROOT } from './processes.js';
import type { Tensor } from './reference-ops.js';

/**
 * Folder of real data that may not be copied into the repository (third-party models),
 * beside the checkout. Tests that need it skip when it is absent.
 */
export const SHARED_DATA = join(REPO_ROOT, '..', 'shared', 'data');

export function sharedDataPath(relative: string): string | null {
  const path = join(SHARED_DATA, relative);
  return existsSync(path) ? path : null;
}

export type PixelScaling = (value: number) => number;

export const scaleToUnit: PixelScaling = (value) => value / 255;
export const keepRaw: PixelScaling = (value) => value;
export const scaleSymmetric: PixelScaling = (value) => value / 127.5 - 1;

async function decodeRgb(path: string): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(path).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: info.channels };
}

/**
 * Loads a photo the way Keras' `load_img(path, target_size=(h, w))` does with its
 * default interpolation: RGB, Pillow's NEAREST resize; then scales the pixels.
 */
export async function loadLikeKeras(path: string, width: number, height: number, scale: PixelScaling): Promise<Tensor> {
  const resized = resizeNearestPil(await decodeRgb(path), width, height);
  return { shape: [1, height, width, 3], data: Float64Array.from(resized.data, scale) };
}

/** Loads a photo resized with sharp's bilinear kernel, for models trained on bilinear resizes. */
export async function loadBilinear(path: string, width: number, height: number, scale: PixelScaling): Promise<Tensor> {
  const data = await sharp(path).removeAlpha().toColourspace('srgb').resize(width, height, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
  return { shape: [1, height, width, 3], data: Float64Array.from(data, scale) };
}
