/**
 * Conv2D, DepthwiseConv2D and SeparableConv2D as ONNX Conv in NCHW. Keras stores
 * kernels as (height, width, in, out); ONNX wants (out, in, height, width), so the
 * kernels are transposed once here, at conversion time.
 */
import { CascadeError } from '../../../shared/errors.js';
import { attr } from '../../onnx-builder.js';
import { formatShape, requireRank, type TensorValue } from '../context.js';
import { activationName, applyActivation } from './activations.js';
import { windowGeometry, type Padding, type WindowGeometry } from './spatial.js';
import { channelCount, produced, singleInput, type LayerCall, type LayerResult } from './types.js';

interface ConvSettings {
  kernel: [number, number];
  strides: [number, number];
  dilations: [number, number];
  padding: Padding;
  useBias: boolean;
  activation: string | null;
}

function readConvSettings(call: LayerCall): ConvSettings {
  const options = call.options;
  options.channelsLast();
  return {
    kernel: options.intPair('kernel_size'),
    strides: options.intPair('strides', [1, 1]),
    dilations: options.intPair('dilation_rate', [1, 1]),
    padding: options.choice('padding', ['valid', 'same'], 'valid'),
    useBias: options.boolean('use_bias', true),
    activation: activationName(call.context, call.layer, options.raw('activation')),
  };
}

export function convertConv2D(call: LayerCall): LayerResult {
  const input = singleInput(call);
  requireRank(call.context, input, 4, call.layer);
  const settings = readConvSettings(call);
  const filters = call.options.int('filters');
  const groups = call.options.int('groups', 1);
  const inChannels = channelCount(call, input);
  if (inChannels % groups !== 0 || filters % groups !== 0) {
    throw invalidConfig(call, `groups=${groups} does not divide ${inChannels} input channels and ${filters} filters`);
  }
  const [kh, kw] = settings.kernel;
  const kernel = call.weights.require(['kernel'], [kh, kw, inChannels / groups, filters]);
  const weight = call.context.cachedFloats(`${call.baseName}/kernel`, `${call.baseName}/kernel`, () => ({
    data: kernelToOihw(kernel.data, kh, kw, inChannels / groups, filters),
    dims: [filters, inChannels / groups, kh, kw],
  }));
  const bias = settings.useBias ? biasInput(call, filters) : null;
  const geometry = geometryFor(call, input, settings);
  const output = emitConv(call, input, weight, bias, settings, geometry, groups, call.baseName);
  const result = produced(output, [input.shape[0] ?? null, ...geometry.outputSize, filters], 'nchw');
  const activated = applyActivation(call.context, call.layer, result, settings.activation, call.baseName);
  const groupText = groups === 1 ? '' : `, group ${groups}`;
  return { output: activated, handling: `Conv (${geometry.description}${groupText})${activationText(settings)}` };
}

export function convertDepthwiseConv2D(call: LayerCall): LayerResult {
  const input = singleInput(call);
  requireRank(call.context, input, 4, call.layer);
  const settings = readConvSettings(call);
  const multiplier = call.options.int('depth_multiplier', 1);
  // DepthwiseConv2D inherits `groups` from the Conv base class in Keras 2 and ignores it.
  call.options.ignore('groups');
  const channels = channelCount(call, input);
  const [kh, kw] = settings.kernel;
  const kernel = call.weights.require(['depthwise_kernel', 'kernel'], [kh, kw, channels, multiplier]);
  const weight = call.context.cachedFloats(`${call.baseName}/depthwise`, `${call.baseName}/depthwise_kernel`, () => ({
    data: depthwiseToOihw(kernel.data, kh, kw, channels, multiplier),
    dims: [channels * multiplier, 1, kh, kw],
  }));
  const bias = settings.useBias ? biasInput(call, channels * multiplier) : null;
  const geometry = geometryFor(call, input, settings);
  const output = emitConv(call, input, weight, bias, settings, geometry, channels, call.baseName);
  const result = produced(output, [input.shape[0] ?? null, ...geometry.outputSize, channels * multiplier], 'nchw');
  const activated = applyActivation(call.context, call.layer, result, settings.activation, call.baseName);
  return { output: activated, handling: `Conv depthwise (group ${channels}, multiplier ${multiplier}, ${geometry.description})${activationText(settings)}` };
}

/** Converts SeparableConv2D: a depthwise Conv (with the layer's padding), a 1x1 pointwise Conv with the bias, then the activation. */
export function convertSeparableConv2D(call: LayerCall): LayerResult {
  const input = singleInput(call);
  requireRank(call.context, input, 4, call.layer);
  const settings = readConvSettings(call);
  const filters = call.options.int('filters');
  const multiplier = call.options.int('depth_multiplier', 1);
  call.options.ignore('groups');
  const channels = channelCount(call, input);
  const [kh, kw] = settings.kernel;
  const depthwise = call.weights.require(['depthwise_kernel'], [kh, kw, channels, multiplier]);
  const pointwise = call.weights.require(['pointwise_kernel'], [1, 1, channels * multiplier, filters]);
  const depthwiseName = call.context.cachedFloats(`${call.baseName}/depthwise`, `${call.baseName}/depthwise_kernel`, () => ({
    data: depthwiseToOihw(depthwise.data, kh, kw, channels, multiplier),
    dims: [channels * multiplier, 1, kh, kw],
  }));
  const pointwiseName = call.context.cachedFloats(`${call.baseName}/pointwise`, `${call.baseName}/pointwise_kernel`, () => ({
    data: kernelToOihw(pointwise.data, 1, 1, channels * multiplier, filters),
    dims: [filters, channels * multiplier, 1, 1],
  }));
  const geometry = geometryFor(call, input, settings);
  const spatial = emitConv(call, input, depthwiseName, null, settings, geometry, channels, `${call.baseName}_depthwise`);
  const bias = settings.useBias ? biasInput(call, filters) : null;
  const inputs = bias === null ? [spatial, pointwiseName] : [spatial, pointwiseName, bias];
  const output = call.context.graph.addOp('Conv', inputs, { kernel_shape: attr.ints([1, 1]) }, call.baseName);
  const result = produced(output, [input.shape[0] ?? null, ...geometry.outputSize, filters], 'nchw');
  const activated = applyActivation(call.context, call.layer, result, settings.activation, call.baseName);
  return { output: activated, handling: `Conv depthwise (${geometry.description}) + Conv 1x1${activationText(settings)}` };
}

function emitConv(call: LayerCall, input: TensorValue, weight: string, bias: string | null, settings: ConvSettings, geometry: WindowGeometry, group: number, name: string): string {
  const inputs = [call.context.toNchw(input), weight];
  if (bias !== null) inputs.push(bias);
  return call.context.graph.addOp('Conv', inputs, {
    kernel_shape: attr.ints(settings.kernel),
    strides: attr.ints(settings.strides),
    dilations: attr.ints(settings.dilations),
    group: attr.int(group),
    ...geometry.padAttributes,
  }, name);
}

function geometryFor(call: LayerCall, input: TensorValue, settings: ConvSettings): WindowGeometry {
  const geometry = windowGeometry([input.shape[1] ?? null, input.shape[2] ?? null], settings);
  if (geometry.outputSize.some((size) => size === 0)) {
    throw invalidConfig(call, `kernel ${settings.kernel.join('x')} does not fit the input ${formatShape(input.shape)} with 'valid' padding`);
  }
  return geometry;
}

function biasInput(call: LayerCall, size: number): string {
  const bias = call.weights.require(['bias'], [size]);
  return call.context.cachedFloats(`${call.baseName}/bias`, `${call.baseName}/bias`, () => ({ data: bias.data, dims: [size] }));
}

/** Keras (kh, kw, in, out) → ONNX (out, in, kh, kw). */
export function kernelToOihw(data: Float32Array, kh: number, kw: number, inChannels: number, outChannels: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y += 1) {
    for (let x = 0; x < kw; x += 1) {
      for (let i = 0; i < inChannels; i += 1) {
        for (let o = 0; o < outChannels; o += 1) {
          out[((o * inChannels + i) * kh + y) * kw + x] = data[((y * kw + x) * inChannels + i) * outChannels + o] ?? 0;
        }
      }
    }
  }
  return out;
}

/**
 * Keras depthwise (kh, kw, channels, multiplier) → ONNX grouped (channels * multiplier, 1, kh, kw).
 * TensorFlow orders depthwise outputs channel-major: output channel c * multiplier + m.
 */
export function depthwiseToOihw(data: Float32Array, kh: number, kw: number, channels: number, multiplier: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let y = 0; y < kh; y += 1) {
    for (let x = 0; x < kw; x += 1) {
      for (let c = 0; c < channels; c += 1) {
        for (let m = 0; m < multiplier; m += 1) {
          out[((c * multiplier + m) * kh + y) * kw + x] = data[((y * kw + x) * channels + c) * multiplier + m] ?? 0;
        }
      }
    }
  }
  return out;
}

function activationText(settings: ConvSettings): string {
  return settings.activation === null ? '' : ` + ${settings.activation}`;
}

function invalidConfig(call: LayerCall, reason: string): CascadeError {
  return new CascadeError('MODEL_LOAD_FAILED', `${call.context.file}: ${call.layer.className} '${call.layer.name}': ${reason}; the model_config is inconsistent`, {
    file: call.context.file,
    layer: call.layer.name,
  });
}
