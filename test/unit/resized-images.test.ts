import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ResizeMethod } from '../../src/config/types.js';
import { ResizedImages } from '../../src/pipeline/resized-images.js';
import { decodeImage, resizeImage, type RgbImage } from '../../src/runtime/image.js';
import type { ModelDescriptor } from '../../src/runtime/loaded-model.js';
import { EXAMPLE_IMAGES } from '../support/cluster.js';

const LIMITS = { maxBodyBytes: 10_000_000, maxPixels: 50_000_000, minWidth: 16, minHeight: 16 };

function descriptor(id: string, width: number | null, height: number | null, resize: ResizeMethod = 'bilinear'): ModelDescriptor {
  return { id, version: 'v1', inputWidth: width, inputHeight: height, resize, labels: ['a', 'b'] };
}

async function examplePhoto(): Promise<RgbImage> {
  const folder = join(EXAMPLE_IMAGES, 'akiec');
  const name = readdirSync(folder).find((file) => file.endsWith('.jpg'));
  assert.ok(name !== undefined, `no JPEG photo in ${folder}`);
  return decodeImage(readFileSync(join(folder, name)), LIMITS);
}

describe('ResizedImages', () => {
  it('resizes once for two models of one size', async () => {
    const photo = await examplePhoto();
    const resized = new ResizedImages();
    const first = await resized.forModel(photo, descriptor('basic', 224, 224));
    const second = await resized.forModel(photo, descriptor('second', 224, 224));
    assert.equal(second, first, 'the second model gets the first resize');
    assert.equal(first.width, 224);
    assert.equal(first.height, 224);
  });

  it('matches a direct resize byte for byte', async () => {
    const photo = await examplePhoto();
    const shared = await new ResizedImages().forModel(photo, descriptor('basic', 224, 224));
    const direct = await resizeImage(photo, 224, 224, 'bilinear');
    assert.ok(shared.data.equals(direct.data), 'the shared resize differs from resizeImage');
  });

  it('resizes again for another size or method', async () => {
    const photo = await examplePhoto();
    const resized = new ResizedImages();
    const bilinear = await resized.forModel(photo, descriptor('basic', 224, 224));
    const smaller = await resized.forModel(photo, descriptor('small', 96, 96));
    const nearest = await resized.forModel(photo, descriptor('nearest', 224, 224, 'nearest'));
    assert.equal(smaller.width, 96);
    assert.notEqual(nearest, bilinear);
    assert.ok(!nearest.data.equals(bilinear.data), 'nearest and bilinear gave the same pixels');
  });

  it('keeps separate images apart', async () => {
    const photo = await examplePhoto();
    const copy: RgbImage = { ...photo, data: Buffer.alloc(photo.data.length, 0) };
    const resized = new ResizedImages();
    const fromPhoto = await resized.forModel(photo, descriptor('basic', 224, 224));
    const fromCopy = await resized.forModel(copy, descriptor('basic', 224, 224));
    assert.notEqual(fromCopy, fromPhoto);
    assert.equal(fromCopy.data.every((byte) => byte === 0), true, 'the black copy was served the photo');
  });

  it('passes images through for models without a size', async () => {
    const photo = await examplePhoto();
    assert.equal(await new ResizedImages().forModel(photo, descriptor('any size', null, null)), photo);
  });
});
