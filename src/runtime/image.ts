import sharp from 'sharp';
import type { ImageLimits, ResizeMethod } from '../config/types.js';
import { CascadeError } from '../shared/errors.js';

/** Decoded pixels: 8-bit RGB, row-major, EXIF orientation applied, no alpha. */
export interface RgbImage {
  data: Buffer;
  width: number;
  height: number;
}

const SUPPORTED_FORMATS = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);

// sharp ships libvips with its own thread pool; the defaults (one thread per core and a
// 50 MB operation cache) suit a server that decodes many small images.
sharp.cache({ items: 0, files: 0, memory: 0 });

/**
 * Validates and decodes an uploaded image. The header is read first, so a file that
 * claims more pixels than `maxPixels` is rejected before any pixel is decoded.
 */
export async function decodeImage(bytes: Buffer, limits: ImageLimits): Promise<RgbImage> {
  if (bytes.length === 0) {
    throw new CascadeError('IMAGE_EMPTY', 'The image body is empty (0 bytes); send a JPEG, PNG or WebP file.');
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
      `The image header could not be read (${bytes.length} bytes): ${describeSharpError(error)}. Send a valid JPEG, PNG or WebP file.`,
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

/**
 * Resizes decoded pixels to the model's input size, stretching to fill (no crop, no
 * letterbox), the way Keras `load_img(target_size=...)` and most training code resize.
 */
export async function resizeImage(image: RgbImage, width: number, height: number, method: ResizeMethod): Promise<RgbImage> {
  if (image.width === width && image.height === height) return image;
  if (method === 'nearest') return resizeNearest(image, width, height);
  const kernel = method === 'bilinear' ? 'linear' : method === 'bicubic' ? 'cubic' : 'lanczos3';
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill', kernel })
    .raw()
    .toBuffer();
  return { data, width, height };
}

/**
 * Nearest-neighbour resize with the sampling rule of Pillow's NEAREST filter, which is
 * what Keras `load_img` uses: output pixel x takes source pixel floor((x + 0.5) * in / out).
 * libvips' nearest kernel picks other pixels when downscaling, and models trained on
 * Pillow-resized images can change their answer on them.
 */
export function resizeNearest(image: RgbImage, width: number, height: number): RgbImage {
  const data = Buffer.allocUnsafe(width * height * 3);
  const scaleX = image.width / width;
  const scaleY = image.height / height;
  for (let y = 0; y < height; y += 1) {
    const sourceY = Math.min(image.height - 1, Math.floor((y + 0.5) * scaleY));
    for (let x = 0; x < width; x += 1) {
      const sourceX = Math.min(image.width - 1, Math.floor((x + 0.5) * scaleX));
      const from = (sourceY * image.width + sourceX) * 3;
      const to = (y * width + x) * 3;
      data[to] = image.data[from] ?? 0;
      data[to + 1] = image.data[from + 1] ?? 0;
      data[to + 2] = image.data[from + 2] ?? 0;
    }
  }
  return { data, width, height };
}
