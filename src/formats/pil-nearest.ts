/**
 * Nearest-neighbour resizing that picks exactly the pixels Pillow's
 * `Image.resize(size, Image.NEAREST)` picks. Keras' `load_img` resizes with it, so
 * models trained through `load_img` expect these pixels. sharp's `kernel: 'nearest'`
 * picks different ones (it shrinks by an integer factor first): on 600x450 photos
 * resized to 28x28 most output pixels differ.
 *
 * Sampling rule, from Pillow's ImagingScaleAffine in libImaging/Geometry.c, which
 * NEAREST uses with the default box. Along each axis the step is
 * `scale = in_size / out_size` in double precision. The first source coordinate is
 * `scale * 0.5`, each next one adds `scale`, and the index is the coordinate
 * truncated toward zero. Because Pillow accumulates instead of computing
 * `(i + 0.5) * scale`, exact ties can land one pixel lower: 600 → 28 picks column
 * 224, not 225, for output column 10. JavaScript numbers are doubles, so the same
 * accumulation gives the same picks.
 */

/** Source index along one axis for each output index, as Pillow's NEAREST resize chooses it. */
export function pilNearestIndices(inSize: number, outSize: number): number[] {
  const scale = inSize / outSize;
  const indices: number[] = [];
  let coordinate = scale * 0.5;
  for (let index = 0; index < outSize; index += 1) {
    indices.push(Math.min(Math.trunc(coordinate), inSize - 1));
    coordinate += scale;
  }
  return indices;
}

export interface RawImage {
  /** Interleaved pixels, row by row (such as sharp's `raw()` output). */
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** Resizes interleaved 8-bit pixels to `width` x `height` with Pillow's NEAREST rule. */
export function resizeNearestPil(image: RawImage, width: number, height: number): RawImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`target size ${width}x${height} is invalid; width and height must be positive integers`);
  }
  if (image.data.length !== image.width * image.height * image.channels) {
    throw new RangeError(`image data has ${image.data.length} bytes, expected ${image.width}x${image.height}x${image.channels}`);
  }
  const columns = pilNearestIndices(image.width, width);
  const rows = pilNearestIndices(image.height, height);
  const { channels } = image;
  const data = new Uint8Array(width * height * channels);
  rows.forEach((sourceRow, y) => {
    columns.forEach((sourceColumn, x) => {
      const from = (sourceRow * image.width + sourceColumn) * channels;
      data.set(image.data.subarray(from, from + channels), (y * width + x) * channels);
    });
  });
  return { data, width, height, channels };
}
