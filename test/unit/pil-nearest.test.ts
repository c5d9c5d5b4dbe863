import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pilNearestIndices, resizeNearestPil } from '../../src/formats/pil-nearest.js';

describe('pilNearestIndices', () => {
  test('600 to 28 follows Pillow accumulation at the tie', () => {
    const indices = pilNearestIndices(600, 28);
    // Output column 10 sits exactly on source coordinate 225 (10.5 * 600 / 28);
    // Pillow's accumulated coordinate falls just below it, so it picks 224.
    assert.equal(indices[10], 224);
    assert.deepEqual(indices.slice(0, 4), [10, 32, 53, 75]);
    assert.equal(indices[27], 589);
  });

  test('without ties it equals floor((i + 0.5) * in / out)', () => {
    const indices = pilNearestIndices(450, 28);
    assert.deepEqual(indices, Array.from({ length: 28 }, (_, index) => Math.floor(((index + 0.5) * 450) / 28)));
  });

  test('equal sizes map each index to itself', () => {
    assert.deepEqual(pilNearestIndices(5, 5), [0, 1, 2, 3, 4]);
  });

  test('upscaling repeats source pixels', () => {
    assert.deepEqual(pilNearestIndices(2, 4), [0, 0, 1, 1]);
    assert.deepEqual(pilNearestIndices(3, 7), [0, 0, 1, 1, 1, 2, 2]);
  });
});

describe('resizeNearestPil', () => {
  test('copies whole pixels from the chosen rows and columns', () => {
    const width = 6;
    const height = 4;
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < width; x += 1) data.set([x, y, 100 + x + 10 * y], (y * width + x) * 3);
    }
    const resized = resizeNearestPil({ data, width, height, channels: 3 }, 3, 2);
    // Columns 1, 3, 5 and rows 1, 3 (step 2, first coordinate 1.0).
    assert.deepEqual(Array.from(resized.data), [1, 1, 111, 3, 1, 113, 5, 1, 115, 1, 3, 131, 3, 3, 133, 5, 3, 135]);
    assert.equal(resized.width, 3);
    assert.equal(resized.height, 2);
  });

  test('rejects a zero target size and mismatched data', () => {
    const image = { data: new Uint8Array(12), width: 2, height: 2, channels: 3 };
    assert.throws(() => resizeNearestPil(image, 0, 2), /target size 0x2 is invalid/);
    assert.throws(() => resizeNearestPil({ ...image, data: new Uint8Array(5) }, 1, 1), /image data has 5 bytes, expected 2x2x3/);
  });
});
