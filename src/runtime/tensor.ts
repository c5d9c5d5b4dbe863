import type { ChannelOrder, Scaling } from '../config/types.js';
import type { RgbImage } from './image.js';

export type TensorLayout = 'nhwc' | 'nchw';

/** A scaling whose `auto` mode has been decided for a model. */
export type ResolvedScaling = Scaling & { mode: Exclude<Scaling['mode'], 'auto'> };

export interface TensorSpec {
  layout: TensorLayout;
  scaling: ResolvedScaling;
  channelOrder: ChannelOrder;
}

/**
 * Decides `auto` scaling: a model that rescales pixels in its own graph gets raw 0..255
 * values, any other model x / 255, the most common training setup.
 */
export function resolveScaling(scaling: Scaling, rescalesInGraph: boolean): ResolvedScaling {
  if (scaling.mode !== 'auto') return { ...scaling, mode: scaling.mode };
  return { ...scaling, mode: rescalesInGraph ? 'none' : 'unit' };
}

/** One output channel: which byte of an RGB pixel it reads, and the value of each byte. */
interface ChannelLookup {
  sourceChannel: number;
  values: Float32Array;
}

/**
 * Turns resized 8-bit RGB pixels into a float32 input tensor of shape [1, H, W, 3]
 * (nhwc) or [1, 3, H, W] (nchw), scaled as the model was trained.
 */
export function toInputTensor(image: RgbImage, spec: TensorSpec): Float32Array {
  const pixels = image.width * image.height;
  const output = new Float32Array(pixels * 3);
  const channels = channelLookups(spec);
  // A byte missing from a short buffer reads as 0, as an out-of-range index would.
  const byteAt = (index: number): number => image.data[index] ?? 0;

  for (const [channel, lookup] of channels.entries()) {
    const { sourceChannel, values } = lookup;
    const start = spec.layout === 'nhwc' ? channel : channel * pixels;
    const stride = spec.layout === 'nhwc' ? 3 : 1;
    for (let pixel = 0, index = start; pixel < pixels; pixel += 1, index += stride) {
      output[index] = values[byteAt(pixel * 3 + sourceChannel)] ?? 0;
    }
  }
  return output;
}

/**
 * Computes value * scale[c] + offset[c] once for each of the 256 byte values of each
 * output channel, so the per-pixel work is a table lookup. Each entry is the same
 * double-precision result rounded once to float32, as writing it straight into the
 * tensor would round it, so the tensor is bit-identical to computing every element.
 */
function channelLookups(spec: TensorSpec): ChannelLookup[] {
  const [scale, offsets] = channelTransform(spec.scaling);
  const order = spec.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  return order.map((sourceChannel, channel) => {
    const values = new Float32Array(256);
    for (let byte = 0; byte < 256; byte += 1) values[byte] = byte * (scale[channel] ?? 1) + (offsets[channel] ?? 0);
    return { sourceChannel, values };
  });
}

/**
 * Expresses every scaling mode as value * scale[c] + offset[c] on 0..255 inputs, so the
 * lookup tables above have one form. Mean and std are in channel order, in 0..1 units.
 */
function channelTransform(scaling: ResolvedScaling): [number[], number[]] {
  switch (scaling.mode) {
    case 'none':
      return [[1, 1, 1], [0, 0, 0]];
    case 'unit':
      return [[1 / 255, 1 / 255, 1 / 255], [0, 0, 0]];
    case 'symmetric':
      return [[1 / 127.5, 1 / 127.5, 1 / 127.5], [-1, -1, -1]];
    case 'standardize':
      return [
        scaling.std.map((std) => 1 / (255 * std)),
        scaling.mean.map((mean, channel) => -mean / (scaling.std[channel] ?? 1)),
      ];
  }
}
