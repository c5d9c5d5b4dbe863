import sharp from 'sharp';
import type { ImageLimits, ResizeMethod } from '../config/types.js';
import { resizeNearestPil } from '../formats/pil-nearest.js';
import { CascadeError } from '../shared/errors.js';

/** Decoded pixels: 8-bit RGB, row-major, EXIF orientation applied, no alpha. */
export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}

const SUPPORTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

// libvips' operation cache helps programs that repeat the same operation on the same
// file. Every request here brings a new image, so the cache would only hold memory.
sharp.cache({ items: 0, files: 0, memory: 0 });

/**
 * Validates and decodes an uploaded image. The header is read first, so a file that
 * claims more pixels than `maxPixels` is rejected before any pixel is decoded.
 */
export async function decodeImage(bytes: Buffer, limits: ImageLimits): Promise<RgbImage> {
  if (bytes.length === 0) {
    throw new CascadeError('IMAGE_EMPTY', 'The image body is empty (0 bytes); send a JPEG, PNG, WebP, GIF, TIFF or AVIF file.');
  }
  const header = await readHeader(bytes);
  checkDimensions(header.width, header.height, limits);
  return decodePixels(bytes, limits);
}

interface ImageHeader {
  format: string;
  width: number;
  height: number;
}

async function readHeader(bytes: Buffer): Promise<ImageHeader> {
  let metadata: sharp.Metadata;
  try {
    metadata = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw new CascadeError(
      'IMAGE_UNDECODABLE',
      `The image header could not be read (${bytes.length} bytes): ${describeSharpError(error)}. Send a valid JPEG, PNG, WebP, GIF, TIFF or AVIF file.`,
      { sizeBytes: bytes.length },
    );
  }
  const format = metadata.format ?? 'unknown';
  if (!SUPPORTED_FORMATS.has(format)) {
    throw new CascadeError(
      'IMAGE_UNSUPPORTED_FORMAT',
      `The image format '${format}' is not supported; send JPEG, PNG, WebP, GIF, TIFF or AVIF.`,
      { format },
    );
  }
  // EXIF orientations 5 to 8 swap width and height once applied.
  const swapped = (metadata.orientation ?? 1) >= 5;
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  return { format, width: swapped ? height : width, height: swapped ? width : height };
}

function checkDimensions(width: number, height: number, limits: ImageLimits): void {
  const pixels = width * height;
  if (pixels > limits.maxPixels) {
    throw new CascadeError(
      'IMAGE_TOO_LARGE',
      `The image is ${width}x${height} (${pixels} pixels), above the limit of ${limits.maxPixels} pixels; downscale it before sending.`,
      { width, height, pixels, maxPixels: limits.maxPixels },
    );
  }
  if (width < limits.minWidth || height < limits.minHeight) {
    throw new CascadeError(
      'IMAGE_TOO_SMALL',
      `The image is ${width}x${height}, below the minimum of ${limits.minWidth}x${limits.minHeight}; send a larger photo.`,
      { width, height, minWidth: limits.minWidth, minHeight: limits.minHeight },
    );
  }
}

async function decodePixels(bytes: Buffer, limits: ImageLimits): Promise<RgbImage> {
  try {
    // failOn 'warning' turns a truncated JPEG into an error instead of grey rows.
    const { data, info } = await sharp(bytes, { failOn: 'warning', limitInputPixels: limits.maxPixels })
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    return ensureRgb(data, info.width, info.height, info.channels);
  } catch (error) {
    throw new CascadeError(
      'IMAGE_UNDECODABLE',
      `The image could not be decoded (${bytes.length} bytes): ${describeSharpError(error)}. The file may be truncated or corrupt; send it again.`,
      { sizeBytes: bytes.length },
    );
  }
}

/** Grayscale inputs can still come out of libvips with one channel; expand them to RGB. */
function ensureRgb(data: Buffer, width: number, height: number, channels: number): RgbImage {
  if (channels === 3) return { data, width, height };
  const rgb = Buffer.allocUnsafe(width * height * 3);
  for (let pixel = 0; pixel < width * height; pixel += 1) {
    const value = data[pixel * channels] ?? 0;
    rgb[pixel * 3] = value;
    rgb[pixel * 3 + 1] = value;
    rgb[pixel * 3 + 2] = value;
  }
  return { data: rgb, width, height };
}

function describeSharpError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s+/g, ' ').trim();
}

/** sharp kernel for each resize method other than nearest, which is done by hand. */
const SHARP_KERNELS = { bilinear: 'linear', bicubic: 'cubic', lanczos3: 'lanczos3' } as const;

/**
 * Resizes decoded pixels to the model's input size, stretching to fill (no crop, no
 * letterbox), the way Keras `load_img(target_size=...)` and most training code resize.
 */
export async function resizeImage(image: RgbImage, width: number, height: number, method: ResizeMethod): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  if (method === 'nearest') return resizeNearest(image, width, height);
  const kernel = SHARP_KERNELS[method];
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  return { data, width, height };
}

/**
 * Resizes with the pixel choice of Pillow's NEAREST filter, which Keras `load_img` uses.
 * libvips' nearest kernel picks other pixels, and that changes the probabilities of
 * models trained on Pillow-resized images.
 */
export function resizeNearest(image: RgbImage, width: number, height: number): RgbImage {
  const resized = resizeNearestPil({ ...image, channels: 3 }, width, height);
  return { data: Buffer.from(resized.data.buffer, resized.data.byteOffset, resized.data.byteLength), width, height };
}
