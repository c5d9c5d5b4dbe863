/** The contract between the model walker and the converter of each Keras layer class. */
import { CascadeError } from '../../../shared/errors.js';
import { unsupported, type ConversionContext, type Layout, type Shape, type TensorValue } from '../context.js';
import type { LayerSpec } from '../config.js';
import type { LayerOptions } from '../options.js';
import type { LayerWeights } from '../weights.js';

export interface LayerCall {
  readonly context: ConversionContext;
  readonly layer: LayerSpec;
  readonly inputs: readonly TensorValue[];
  /**
   * The layer's config, with read tracking. The walker calls `finish()` after the
   * converter returns or throws, so converters read every option before any weight.
   */
  readonly options: LayerOptions;
  readonly weights: LayerWeights;
  /** Base for ONNX value names, such as "model1/Conv1". */
  readonly baseName: string;
}

export interface LayerResult {
  output: TensorValue;
  /** Description of the emitted nodes, for `cascade inspect`, such as "Conv (pads from 'same')". */
  handling: string;
}

export type LayerConverter = (call: LayerCall) => LayerResult;

/** Returns the single input of a layer that takes one tensor. */
export function singleInput(call: LayerCall): TensorValue {
  const [input] = call.inputs;
  if (call.inputs.length !== 1 || input === undefined) {
    throw unsupported(call.context, call.layer, `call with ${call.inputs.length} input tensors (expected 1)`);
  }
  return input;
}

/** Describes a new tensor produced by a layer. */
export function produced(name: string, shape: Shape, layout: Layout = 'nhwc'): TensorValue {
  return { name, shape, layout: shape.length === 4 ? layout : 'nhwc', fromInput: false };
}

/** Returns the size of the last (channel) dimension, which layers with per-channel weights need. */
export function channelCount(call: LayerCall, value: TensorValue): number {
  const channels = value.shape[value.shape.length - 1];
  if (typeof channels !== 'number') {
    throw new CascadeError(
      'MODEL_LOAD_FAILED',
      `${call.context.file}: ${call.layer.className} '${call.layer.name}' gets an input with an unknown channel count; the model_config has no fixed input shape`,
      { file: call.context.file, layer: call.layer.name },
    );
  }
  return channels;
}

/** Product of the dimensions, or null when one of them is unknown. */
export function elementCount(dims: Shape): number | null {
  let count = 1;
  for (const dim of dims) {
    if (dim === null) return null;
    count *= dim;
  }
  return count;
}
