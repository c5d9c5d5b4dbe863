/**
 * Pooling layers. Window pooling runs as ONNX MaxPool / AveragePool in NCHW; global
 * pooling reduces the two spatial axes of whatever layout the tensor has.
 */
import { CascadeError } from '../../../shared/errors.js';
import { attr } from '../../onnx-builder.js';
import { formatShape, onnxAxis, requireRank } from '../context.js';
import { windowGeometry } from './spatial.js';
import { produced, singleInput, type LayerCall, type LayerResult } from './types.js';

function convertWindowPooling(call: LayerCall, kind: 'max' | 'average'): LayerResult {
  const input = singleInput(call);
  requireRank(call.context, input, 4, call.layer);
  const options = call.options;
  options.channelsLast();
  const poolSize = options.intPair('pool_size', [2, 2]);
  // Keras uses the pool size as the stride when `strides` is null.
  const strides = options.intPair('strides', poolSize);
  const padding = options.choice('padding', ['valid', 'same'], 'valid');
  const geometry = windowGeometry([input.shape[1] ?? null, input.shape[2] ?? null], { kernel: poolSize, strides, dilations: [1, 1], padding });
  if (geometry.outputSize.some((size) => size === 0)) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${call.context.file}: ${call.layer.className} '${call.layer.name}': pool ${poolSize.join('x')} does not fit the input ${formatShape(input.shape)}; the model_config is inconsistent`, {
      file: call.context.file,
      layer: call.layer.name,
    });
  }
  // TensorFlow's 'same' average pooling divides by the number of real pixels in each
  // window, which is ONNX's count_include_pad=0; max pooling never selects padding.
  const output = call.context.graph.addOp(kind === 'max' ? 'MaxPool' : 'AveragePool', [call.context.toNchw(input)], {
    kernel_shape: attr.ints(poolSize),
    strides: attr.ints(strides),
    ...geometry.padAttributes,
    ...(kind === 'average' ? { count_include_pad: attr.int(0) } : {}),
  }, call.baseName);
  const shape = [input.shape[0] ?? null, ...geometry.outputSize, input.shape[3] ?? null];
  return { output: produced(output, shape, 'nchw'), handling: `${kind === 'max' ? 'MaxPool' : 'AveragePool'} ${poolSize.join('x')} (${geometry.description})` };
}

export function convertMaxPooling2D(call: LayerCall): LayerResult {
  return convertWindowPooling(call, 'max');
}

export function convertAveragePooling2D(call: LayerCall): LayerResult {
  return convertWindowPooling(call, 'average');
}

function convertGlobalPooling(call: LayerCall, kind: 'max' | 'average'): LayerResult {
  const input = singleInput(call);
  requireRank(call.context, input, 4, call.layer);
  call.options.channelsLast();
  const keepDims = call.options.boolean('keepdims', false);
  const axes = [onnxAxis(1, 4, input.layout), onnxAxis(2, 4, input.layout)];
  const op = kind === 'max' ? 'ReduceMax' : 'ReduceMean';
  const output = call.context.graph.addOp(op, [input.name], { axes: attr.ints(axes), keepdims: attr.int(keepDims ? 1 : 0) }, call.baseName);
  const batch = input.shape[0] ?? null;
  const channels = input.shape[3] ?? null;
  const shape = keepDims ? [batch, 1, 1, channels] : [batch, channels];
  return { output: produced(output, shape, input.layout), handling: `${op} over height and width${keepDims ? ' (keepdims)' : ''}` };
}

export function convertGlobalMaxPooling2D(call: LayerCall): LayerResult {
  return convertGlobalPooling(call, 'max');
}

export function convertGlobalAveragePooling2D(call: LayerCall): LayerResult {
  return convertGlobalPooling(call, 'average');
}
