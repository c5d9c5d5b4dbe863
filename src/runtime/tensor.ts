import type { ChannelOrder, Scaling } from '../config/types.js';
import type { RgbImage } from './image.js';

export type TensorLayout = 'nhwc' | 'nchw';

export interface TensorSpec {
  layout: TensorLayout;
  scaling: Scaling;
  channelOrder: ChannelOrder;
}

/**
 * Turns resized 8-bit RGB pixels into a float32 input tensor of shape [1, H, W, 3]
 * (nhwc) or [1, 3, H, W] (nchw), scaled as the model was trained.
 */
export function toInputTensor(image: RgbImage, spec: TensorSpec): Float32Array {
  const pixels = image.width * image.height;
  const output = new Float32Array(pixels * 3);
  const [scale, offsets] = channelTransform(spec.scaling);
  const order = spec.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];

  for (let pixel = 0; pixel < pixels; pixel += 1) {
    for (let channel = 0; channel < 3; channel += 1) {
      const sourceChannel = order[channel] ?? channel;
      const value = (image.data[pixel * 3 + sourceChannel] ?? 0) * (scale[channel] ?? 1) + (offsets[channel] ?? 0);
      const index = spec.layout === 'nhwc' ? pixel * 3 + channel : channel * pixels + pixel;
      output[index] = value;
    }
  }
  return output;
}

/**
 * Expresses every scaling mode as value * scale[c] + offset[c] on 0..255 inputs, so the
 * inner loop above has one form. Mean and std are in channel order, in 0..1 units.
 */
function channelTransform(scaling: Scaling): [number[], number[]] {
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
