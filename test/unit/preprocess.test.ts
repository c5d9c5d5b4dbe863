import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ImageLimits } from '../../src/config/types.js';
import { decodeImage, resizeImage, resizeNearest, type RgbImage } from '../../src/runtime/image.js';
import { resolveScaling, toInputTensor, type ResolvedScaling } from '../../src/runtime/tensor.js';
import { EXAMPLE_IMAGES } from '../support/cluster.js';
import { alphaPng, cmykJpeg, grayscalePng, pngClaimingSize, rotatedJpeg, solidImage, truncatedJpeg } from '../support/images.js';
import { rejectsWithCode } from '../support/assertions.js';

const LIMITS: ImageLimits = { maxBodyBytes: 10_000_000, maxPixels: 50_000_000, minWidth: 16, minHeight: 16 };
const PHOTO = join(EXAMPLE_IMAGES, 'mel', 'ISIC_0025744.jpg');

describe('decodeImage', () => {
  it('decodes a real JPEG photo to RGB', async () => {
    const image = await decodeImage(readFileSync(PHOTO), LIMITS);
    assert.equal(image.width, 600);
    assert.equal(image.height, 450);
    assert.equal(image.data.length, 600 * 450 * 3);
  });

  it('decodes PNG and WebP', async () => {
    for (const format of ['png', 'webp'] as const) {
      const image = await decodeImage(await solidImage(40, 30, format), LIMITS);
      assert.equal(image.width, 40, format);
      assert.equal(image.height, 30, format);
      assert.equal(image.data.length, 40 * 30 * 3, format);
    }
  });

  it('applies EXIF orientation', async () => {
    const image = await decodeImage(await rotatedJpeg(), LIMITS);
    assert.equal(image.width, 48);
    assert.equal(image.height, 64);
  });

  it('turns grayscale into RGB', async () => {
    const image = await decodeImage(await grayscalePng(), LIMITS);
    assert.equal(image.data.length, 32 * 32 * 3);
    assert.deepEqual([...image.data.subarray(0, 3)], [120, 120, 120]);
  });

  it('turns CMYK into RGB', async () => {
    const image = await decodeImage(await cmykJpeg(), LIMITS);
    assert.equal(image.data.length, 32 * 32 * 3);
    const [red, green, blue] = image.data.subarray(0, 3);
    assert.ok((red ?? 0) > 200, `red channel ${red}`);
    assert.ok((green ?? 255) < 60, `green channel ${green}`);
    assert.ok((blue ?? 255) < 60, `blue channel ${blue}`);
  });

  it('drops alpha', async () => {
    const image = await decodeImage(await alphaPng(), LIMITS);
    assert.equal(image.data.length, 32 * 32 * 3);
    assert.deepEqual([...image.data.subarray(0, 3)], [0, 0, 255]);
  });

  it('rejects an empty body', async () => {
    await rejectsWithCode(decodeImage(Buffer.alloc(0), LIMITS), 'IMAGE_EMPTY');
  });

  it('rejects a truncated JPEG', async () => {
    const error = await rejectsWithCode(decodeImage(truncatedJpeg(PHOTO), LIMITS), 'IMAGE_UNDECODABLE');
    assert.match(error.message, /truncated|premature/i);
  });

  it('rejects text sent as an image', async () => {
    await rejectsWithCode(decodeImage(Buffer.from('this is not an image\n'), LIMITS), 'IMAGE_UNDECODABLE');
  });

  it('rejects an image below the minimum size', async () => {
    const error = await rejectsWithCode(decodeImage(await solidImage(1, 1, 'png'), LIMITS), 'IMAGE_TOO_SMALL');
    assert.match(error.message, /1x1/);
    assert.match(error.message, /16x16/);
  });

  it('rejects a header claiming too many pixels before decoding', async () => {
    const error = await rejectsWithCode(decodeImage(await pngClaimingSize(20000, 20000), LIMITS), 'IMAGE_TOO_LARGE');
    assert.match(error.message, /20000x20000/);
    assert.match(error.message, /50000000/);
  });
});

describe('resizeNearest', () => {
  it('samples pixel centres the way Pillow NEAREST does', () => {
    // A 4x1 image of distinct greys, halved: Pillow picks source x = floor((x + 0.5) * 2) = 1 and 3.
    const source: RgbImage = { data: Buffer.from([0, 0, 0, 10, 10, 10, 20, 20, 20, 30, 30, 30]), width: 4, height: 1 };
    const resized = resizeNearest(source, 2, 1);
    assert.deepEqual([...resized.data], [10, 10, 10, 30, 30, 30]);
  });

  it('upscales by repeating pixels', () => {
    const source: RgbImage = { data: Buffer.from([5, 6, 7, 50, 60, 70]), width: 2, height: 1 };
    const resized = resizeNearest(source, 4, 2);
    assert.deepEqual([...resized.data.subarray(0, 12)], [5, 6, 7, 5, 6, 7, 50, 60, 70, 50, 60, 70]);
    assert.deepEqual([...resized.data.subarray(12)], [...resized.data.subarray(0, 12)]);
  });
});

describe('resizeImage', () => {
  it('stretches to the exact target size with bilinear', async () => {
    const image = await decodeImage(readFileSync(PHOTO), LIMITS);
    const resized = await resizeImage(image, 224, 224, 'bilinear');
    assert.equal(resized.width, 224);
    assert.equal(resized.height, 224);
    assert.equal(resized.data.length, 224 * 224 * 3);
  });
});

describe('toInputTensor', () => {
  const pixel: RgbImage = { data: Buffer.from([255, 0, 51, 0, 255, 102]), width: 2, height: 1 };
  const scaling = (mode: ResolvedScaling['mode']): ResolvedScaling => ({ mode, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });

  it('writes NHWC with 1/255 scaling', () => {
    const tensor = toInputTensor(pixel, { layout: 'nhwc', scaling: scaling('unit'), channelOrder: 'rgb' });
    assert.deepEqual([...tensor].map((value) => Number(value.toFixed(4))), [1, 0, 0.2, 0, 1, 0.4]);
  });

  it('writes NCHW planes', () => {
    const tensor = toInputTensor(pixel, { layout: 'nchw', scaling: scaling('none'), channelOrder: 'rgb' });
    assert.deepEqual([...tensor], [255, 0, 0, 255, 51, 102]);
  });

  it('maps to [-1, 1] with symmetric scaling', () => {
    const tensor = toInputTensor(pixel, { layout: 'nhwc', scaling: scaling('symmetric'), channelOrder: 'rgb' });
    assert.equal(tensor[0], 1);
    assert.equal(tensor[1], -1);
  });

  it('standardizes with mean and std', () => {
    const tensor = toInputTensor(pixel, { layout: 'nhwc', scaling: scaling('standardize'), channelOrder: 'rgb' });
    assert.ok(Math.abs((tensor[0] ?? 0) - 2) < 1e-6, `(1 - 0.5) / 0.25 = 2, got ${tensor[0]}`);
    assert.ok(Math.abs((tensor[1] ?? 0) + 2) < 1e-6, `(0 - 0.5) / 0.25 = -2, got ${tensor[1]}`);
  });

  it('decides auto scaling from the model graph', () => {
    const auto = { mode: 'auto' as const, mean: [0, 0, 0] as [number, number, number], std: [1, 1, 1] as [number, number, number] };
    assert.equal(resolveScaling(auto, true).mode, 'none');
    assert.equal(resolveScaling(auto, false).mode, 'unit');
    assert.equal(resolveScaling(scaling('symmetric'), true).mode, 'symmetric', 'an explicit scale wins');
  });

  it('swaps channels for BGR models', () => {
    const tensor = toInputTensor(pixel, { layout: 'nhwc', scaling: scaling('none'), channelOrder: 'bgr' });
    assert.deepEqual([...tensor.subarray(0, 3)], [51, 0, 255]);
  });
});
