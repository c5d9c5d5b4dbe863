import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';

/** Encodes a solid-colour image in the given format. */
export function solidImage(width: number, height: number, format: 'png' | 'jpeg' | 'webp', colour = { r: 200, g: 40, b: 90 }): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: colour } })[format]().toBuffer();
}

/**
 * Returns a valid 16x16 PNG whose IHDR chunk claims `width` x `height` pixels, with a correct
 * CRC, so only a decoder that checks the size before allocating rejects it cheaply.
 */
export async function pngClaimingSize(width: number, height: number): Promise<Buffer> {
  const png = Buffer.from(await solidImage(16, 16, 'png'));
  // IHDR data starts at byte 16 (8 signature + 4 length + 4 type); its CRC follows 13 data bytes.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)) >>> 0, 29);
  return png;
}

/** Returns the first half of a real JPEG file. */
export function truncatedJpeg(path: string): Buffer {
  const bytes = readFileSync(path);
  return bytes.subarray(0, Math.floor(bytes.length / 2));
}

/** Encodes a 64x48 JPEG whose pixels are stored sideways, with EXIF orientation 6 (rotate 90 degrees clockwise). */
export function rotatedJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 10, g: 200, b: 30 } } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
}

export function grayscalePng(): Promise<Buffer> {
  return sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 120, g: 120, b: 120 } } }).greyscale().png().toBuffer();
}

export function cmykJpeg(): Promise<Buffer> {
  return sharp({ create: { width: 32, height: 32, channels: 3, background: { r: 250, g: 20, b: 20 } } }).toColourspace('cmyk').jpeg().toBuffer();
}

export function alphaPng(): Promise<Buffer> {
  return sharp({ create: { width: 32, height: 32, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 0.5 } } }).png().toBuffer();
}
