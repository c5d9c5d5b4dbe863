/**
 * Output sizes and explicit pads for convolution and pooling windows, computed the
 * way TensorFlow does. For 'same' padding TensorFlow pads
 * max((ceil(in / stride) - 1) * stride + effective_kernel - in, 0) in total and puts
 * the odd pixel at the end (bottom/right), which is what ONNX calls SAME_UPPER.
 */
import { attr, type Attributes } from '../../onnx-builder.js';

export type Padding = 'valid' | 'same';

export interface WindowSettings {
  kernel: readonly number[];
  strides: readonly number[];
  dilations: readonly number[];
  padding: Padding;
}

export interface WindowGeometry {
  /** Output height and width; null where the input size is unknown. */
  outputSize: (number | null)[];
  /** ONNX pad attributes: explicit pads when the input size is known, else auto_pad. */
  padAttributes: Attributes;
  /** Short description for the layer report. */
  description: string;
}

/**
 * Returns null in `outputSize` for a dimension whose window does not fit ('valid'
 * padding on an input smaller than the kernel); the caller reports that.
 */
export function windowGeometry(inputSize: readonly (number | null)[], settings: WindowSettings): WindowGeometry {
  const before: number[] = [];
  const after: number[] = [];
  const outputSize: (number | null)[] = [];
  let allKnown = true;
  inputSize.forEach((size, axis) => {
    const kernel = settings.kernel[axis] ?? 1;
    const stride = settings.strides[axis] ?? 1;
    const dilation = settings.dilations[axis] ?? 1;
    const effective = (kernel - 1) * dilation + 1;
    if (size === null) {
      allKnown = false;
      outputSize.push(null);
      return;
    }
    if (settings.padding === 'valid') {
      outputSize.push(size >= effective ? Math.floor((size - effective) / stride) + 1 : 0);
      before.push(0);
      after.push(0);
      return;
    }
    const output = Math.ceil(size / stride);
    const total = Math.max((output - 1) * stride + effective - size, 0);
    outputSize.push(output);
    before.push(Math.floor(total / 2));
    after.push(total - Math.floor(total / 2));
  });
  if (settings.padding === 'valid') {
    return { outputSize, padAttributes: {}, description: "padding 'valid'" };
  }
  if (!allKnown) {
    return { outputSize, padAttributes: { auto_pad: attr.string('SAME_UPPER') }, description: "auto_pad SAME_UPPER from 'same'" };
  }
  const pads = [...before, ...after];
  const asymmetric = before.some((value, index) => value !== after[index]);
  return {
    outputSize,
    padAttributes: pads.some((pad) => pad !== 0) ? { pads: attr.ints(pads) } : {},
    description: `pads [${pads.join(', ')}] from 'same'${asymmetric ? ' (asymmetric, as TensorFlow)' : ''}`,
  };
}
