/**
 * Keras activations, both as `activation=` arguments of other layers and as the
 * Activation, ReLU, LeakyReLU, ELU and Softmax layers.
 */
import { attr } from '../../onnx-builder.js';
import { onnxAxis, unsupported, type ConversionContext, type TensorValue } from '../context.js';
import { isJsonObject, type Json, type LayerSpec } from '../config.js';
import { produced, singleInput, type LayerCall, type LayerResult } from './types.js';

/** SELU constants from Klambauer et al. (2017), the values Keras uses. */
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

/**
 * Reads an activation identifier: a name, or the Keras 3 object form
 * `{"class_name": "function", "config": "relu"}`. Returns null for no activation.
 */
export function activationName(context: ConversionContext, layer: LayerSpec, value: Json | undefined): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value === 'linear' ? null : value;
  if (isJsonObject(value) && value.class_name === 'function' && typeof value.config === 'string') {
    return value.config === 'linear' ? null : value.config;
  }
  throw unsupported(context, layer, 'option activation', value);
}

/** Applies a named activation; the tensor keeps its shape and layout. */
export function applyActivation(context: ConversionContext, layer: LayerSpec, input: TensorValue, name: string | null, base: string): TensorValue {
  if (name === null) return input;
  const output = emitActivation(context, layer, input, name, base);
  return produced(output, input.shape, input.layout);
}

function emitActivation(context: ConversionContext, layer: LayerSpec, input: TensorValue, name: string, base: string): string {
  const graph = context.graph;
  const x = input.name;
  const out = `${base}_${name}`;
  switch (name) {
    case 'relu':
      return graph.addOp('Relu', [x], {}, out);
    case 'relu6':
      return graph.addOp('Clip', [x, context.scalar(0), context.scalar(6)], {}, out);
    case 'sigmoid':
      return graph.addOp('Sigmoid', [x], {}, out);
    case 'tanh':
      return graph.addOp('Tanh', [x], {}, out);
    case 'softmax':
    case 'log_softmax': {
      const axis = onnxAxis(-1, input.shape.length, input.layout);
      return graph.addOp(name === 'softmax' ? 'Softmax' : 'LogSoftmax', [x], { axis: attr.int(axis) }, out);
    }
    case 'swish':
    case 'silu':
      return graph.addOp('Mul', [x, graph.addOp('Sigmoid', [x], {}, `${base}_sigmoid`)], {}, out);
    case 'hard_sigmoid':
      return emitHardSigmoid(context, x, out);
    case 'hard_silu':
    case 'hard_swish':
      // Keras 3 only: x * relu6(x + 3) / 6, which is ONNX HardSwish exactly.
      return graph.addOp('HardSwish', [x], {}, out);
    case 'elu':
      return graph.addOp('Elu', [x], { alpha: attr.float(1) }, out);
    case 'selu':
      return graph.addOp('Selu', [x], { alpha: attr.float(SELU_ALPHA), gamma: attr.float(SELU_SCALE) }, out);
    case 'softplus':
      return graph.addOp('Softplus', [x], {}, out);
    case 'softsign':
      return graph.addOp('Softsign', [x], {}, out);
    case 'exponential':
      return graph.addOp('Exp', [x], {}, out);
    case 'leaky_relu':
      // The Keras 3 activation function's default slope (the LeakyReLU layer's default is 0.3).
      return graph.addOp('LeakyRelu', [x], { alpha: attr.float(0.2) }, out);
    case 'gelu':
      // Keras' activation function defaults to the exact form (approximate=False) in Keras 2 and 3.
      return emitGelu(context, x, false, out);
    case 'mish': {
      const softplus = graph.addOp('Softplus', [x], {}, `${base}_softplus`);
      return graph.addOp('Mul', [x, graph.addOp('Tanh', [softplus], {}, `${base}_tanh`)], {}, out);
    }
    default:
      throw unsupported(context, layer, 'option activation', name);
  }
}

/**
 * hard_sigmoid changed meaning in Keras 3: Keras 2 computes clip(0.2x + 0.5, 0, 1),
 * Keras 3 computes relu6(x + 3) / 6 = clip(x/6 + 0.5, 0, 1).
 */
function emitHardSigmoid(context: ConversionContext, x: string, out: string): string {
  const alpha = context.kerasMajor >= 3 ? 1 / 6 : 0.2;
  return context.graph.addOp('HardSigmoid', [x], { alpha: attr.float(alpha), beta: attr.float(0.5) }, out);
}

/** GELU from Erf (exact) or Tanh (approximate); the Gelu operator needs opset 20. */
export function emitGelu(context: ConversionContext, x: string, approximate: boolean, out: string): string {
  const graph = context.graph;
  let inner: string;
  if (approximate) {
    const cube = graph.addOp('Mul', [x, graph.addOp('Mul', [x, x])]);
    const poly = graph.addOp('Add', [x, graph.addOp('Mul', [cube, context.scalar(0.044715)])]);
    inner = graph.addOp('Tanh', [graph.addOp('Mul', [poly, context.scalar(Math.sqrt(2 / Math.PI))])]);
  } else {
    inner = graph.addOp('Erf', [graph.addOp('Mul', [x, context.scalar(Math.SQRT1_2)])]);
  }
  const half = graph.addOp('Mul', [x, context.scalar(0.5)]);
  return graph.addOp('Mul', [half, graph.addOp('Add', [inner, context.scalar(1)])], {}, out);
}

export function convertActivation(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const name = activationName(call.context, call.layer, call.options.raw('activation'));
  const output = applyActivation(call.context, call.layer, input, name, call.baseName);
  return { output, handling: name === null ? 'identity (linear)' : `activation ${name}` };
}

/**
 * Converts the ReLU layer, computed the way Keras' backend `relu` does (identical
 * in Keras 2 and 3). Values above `threshold` pass and are clipped to
 * [0, max_value] when a maximum is set. Below the threshold,
 * `negative_slope * (x - threshold)` is added.
 */
export function convertRelu(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const maxValue = call.options.optionalNumber('max_value');
  const slope = call.options.number('negative_slope', 0);
  const threshold = call.options.number('threshold', 0);
  const output = emitRelu(call, input.name, { maxValue, slope, threshold });
  const parts = [maxValue === null ? null : `max ${maxValue}`, slope === 0 ? null : `slope ${slope}`, threshold === 0 ? null : `threshold ${threshold}`];
  return { output: produced(output, input.shape, input.layout), handling: ['ReLU', ...parts.filter((part) => part !== null)].join(', ') };
}

interface ReluSettings {
  maxValue: number | null;
  slope: number;
  threshold: number;
}

function emitRelu(call: LayerCall, x: string, settings: ReluSettings): string {
  const { context } = call;
  const graph = context.graph;
  const { maxValue, slope, threshold } = settings;
  const base = call.baseName;
  if (slope !== 0 && maxValue === null && threshold === 0) {
    return graph.addOp('LeakyRelu', [x], { alpha: attr.float(slope) }, base);
  }
  // The positive part is the layer output when there is no slope, so its last op takes the layer name.
  const positiveName = slope === 0 ? base : `${base}_positive`;
  const clipAfter = maxValue !== null && !(threshold === 0 && maxValue === 6);
  const firstName = clipAfter ? `${base}_relu` : positiveName;
  let positive: string;
  if (threshold !== 0) {
    const above = graph.addOp('Greater', [x, context.scalar(threshold)]);
    positive = graph.addOp('Where', [above, x, context.scalar(0)], {}, firstName);
  } else if (maxValue === 6) {
    positive = graph.addOp('Clip', [x, context.scalar(0), context.scalar(6)], {}, firstName);
  } else {
    positive = graph.addOp('Relu', [x], {}, firstName);
  }
  if (clipAfter && maxValue !== null) {
    positive = graph.addOp('Clip', [positive, context.scalar(0), context.scalar(maxValue)], {}, positiveName);
  }
  if (slope === 0) return positive;
  const shifted = threshold === 0 ? graph.addOp('Neg', [x]) : graph.addOp('Sub', [context.scalar(threshold), x]);
  const negative = graph.addOp('Mul', [graph.addOp('Relu', [shifted]), context.scalar(slope)]);
  return graph.addOp('Sub', [positive, negative], {}, base);
}

/** LeakyReLU: Keras 2 names the slope `alpha`, Keras 3 `negative_slope`; both default to 0.3. */
export function convertLeakyRelu(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const alpha = call.options.optionalNumber('alpha');
  const negativeSlope = call.options.optionalNumber('negative_slope');
  const slope = negativeSlope ?? alpha ?? 0.3;
  const output = call.context.graph.addOp('LeakyRelu', [input.name], { alpha: attr.float(slope) }, call.baseName);
  return { output: produced(output, input.shape, input.layout), handling: `LeakyRelu alpha ${slope}` };
}

export function convertElu(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const alpha = call.options.number('alpha', 1);
  const output = call.context.graph.addOp('Elu', [input.name], { alpha: attr.float(alpha) }, call.baseName);
  return { output: produced(output, input.shape, input.layout), handling: `Elu alpha ${alpha}` };
}

export function convertSoftmax(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const rawAxis = call.options.raw('axis');
  let kerasAxis: number | null = null;
  if (rawAxis === undefined) kerasAxis = -1;
  else if (typeof rawAxis === 'number') kerasAxis = rawAxis;
  else if (Array.isArray(rawAxis) && rawAxis.length === 1 && typeof rawAxis[0] === 'number') kerasAxis = rawAxis[0];
  if (kerasAxis === null) throw unsupported(call.context, call.layer, 'option axis', rawAxis ?? null);
  const axis = onnxAxis(kerasAxis, input.shape.length, input.layout);
  const output = call.context.graph.addOp('Softmax', [input.name], { axis: attr.int(axis) }, call.baseName);
  return { output: produced(output, input.shape, input.layout), handling: `Softmax axis ${kerasAxis}` };
}
