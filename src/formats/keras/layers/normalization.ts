/** BatchNormalization, Normalization and Rescaling: per-channel affine maps with constants folded at conversion time. */
import { attr } from '../../onnx-builder.js';
import { onnxAxis, unsupported, type TensorValue } from '../context.js';
import type { Json } from '../config.js';
import { produced, singleInput, type LayerCall, type LayerResult } from './types.js';

/** Keras' backend epsilon (1e-7), the floor Normalization puts under the standard deviation. */
const KERAS_EPSILON = 1e-7;

/** Reads an `axis` option written as an integer or a one-element list; returns it as a non-negative Keras axis. */
function singleAxis(call: LayerCall, value: Json | undefined, rank: number, fallback: number): number {
  let axis: number | null = null;
  if (value === undefined || value === null) axis = fallback;
  else if (typeof value === 'number') axis = value;
  else if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'number') axis = value[0];
  if (axis === null || !Number.isInteger(axis) || axis < -rank || axis >= rank || axis === 0 || axis === -rank) {
    throw unsupported(call.context, call.layer, 'option axis', value ?? null);
  }
  return axis < 0 ? axis + rank : axis;
}

/** Dims that broadcast a vector of `count` values along Keras axis `axis` of `value` in its current layout. */
function broadcastDims(value: TensorValue, axis: number, count: number): number[] {
  const rank = value.shape.length;
  const position = onnxAxis(axis, rank, value.layout);
  return [count, ...Array.from({ length: rank - position - 1 }, () => 1)];
}

function axisSize(call: LayerCall, value: TensorValue, axis: number): number {
  const size = value.shape[axis];
  if (typeof size !== 'number') throw unsupported(call.context, call.layer, `input with unknown size on axis ${axis}`);
  return size;
}

export function convertBatchNormalization(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const { options, context } = call;
  const rank = input.shape.length;
  const axis = singleAxis(call, options.raw('axis'), rank, -1);
  const epsilon = options.number('epsilon', 1e-3);
  const center = options.boolean('center', true);
  const scale = options.boolean('scale', true);
  options.ignore('momentum', 'renorm_momentum', 'fused');
  options.expect('renorm', [false]);
  const channels = axisSize(call, input, axis);

  const gamma = scale ? call.weights.require(['gamma'], [channels]).data : new Float32Array(channels).fill(1);
  const beta = center ? call.weights.require(['beta'], [channels]).data : new Float32Array(channels);
  const mean = call.weights.require(['moving_mean'], [channels]).data;
  const variance = call.weights.require(['moving_variance'], [channels]).data;

  const channelAxis = (rank === 4 && axis === 3) || (rank === 2 && axis === 1);
  if (channelAxis) {
    const layout = rank === 4 ? 'nchw' : 'nhwc';
    const constant = (suffix: string, data: Float32Array): string =>
      context.cachedFloats(`${call.baseName}/${suffix}`, `${call.baseName}/${suffix}`, () => ({ data, dims: [channels] }));
    const inputs = [context.inLayout(input, layout), constant('gamma', gamma), constant('beta', beta), constant('moving_mean', mean), constant('moving_variance', variance)];
    const output = context.graph.addOp('BatchNormalization', inputs, { epsilon: attr.float(epsilon) }, call.baseName);
    return { output: produced(output, input.shape, layout), handling: `BatchNormalization (epsilon ${epsilon})` };
  }

  const multiplier = new Float32Array(channels);
  const offset = new Float32Array(channels);
  for (let c = 0; c < channels; c += 1) {
    const factor = (gamma[c] ?? 1) / Math.sqrt((variance[c] ?? 0) + epsilon);
    multiplier[c] = factor;
    offset[c] = (beta[c] ?? 0) - (mean[c] ?? 0) * factor;
  }
  const output = affine(call, input, axis, multiplier, offset);
  return { output, handling: `Mul + Add folded from BatchNormalization on axis ${axis}` };
}

function affine(call: LayerCall, input: TensorValue, axis: number, multiplier: Float32Array, offset: Float32Array): TensorValue {
  const { context } = call;
  const dims = broadcastDims(input, axis, multiplier.length);
  const layoutKey = `${input.layout}:${dims.join('x')}`;
  const scaleName = context.cachedFloats(`${call.baseName}/scale:${layoutKey}`, `${call.baseName}/scale`, () => ({ data: multiplier, dims }));
  const offsetName = context.cachedFloats(`${call.baseName}/offset:${layoutKey}`, `${call.baseName}/offset`, () => ({ data: offset, dims }));
  const scaled = context.graph.addOp('Mul', [input.name, scaleName], {}, `${call.baseName}_scale`);
  const output = context.graph.addOp('Add', [scaled, offsetName], {}, call.baseName);
  return produced(output, input.shape, input.layout);
}

/**
 * Normalization computes (x - mean) / max(sqrt(variance), 1e-7), or the inverse
 * when `invert` is set. The statistics come from the config when given there,
 * otherwise from the weights `mean` and `variance` that `adapt()` stored.
 */
export function convertNormalization(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const { options, context } = call;
  const rank = input.shape.length;
  const rawAxis = options.raw('axis');
  const perChannel = !(rawAxis === null || (Array.isArray(rawAxis) && rawAxis.length === 0));
  const axis = perChannel ? singleAxis(call, rawAxis, rank, -1) : rank - 1;
  const count = perChannel ? axisSize(call, input, axis) : 1;
  const invert = options.boolean('invert', false);
  const configuredMean = options.raw('mean');
  const configuredVariance = options.raw('variance');
  const mean = statistic(call, configuredMean, 'mean', count);
  const variance = statistic(call, configuredVariance, 'variance', count);
  const deviation = variance.map((value) => Math.max(Math.sqrt(value), KERAS_EPSILON));
  const dims = perChannel ? broadcastDims(input, axis, count) : [];
  const meanName = context.cachedFloats(`${call.baseName}/mean:${input.layout}`, `${call.baseName}/mean`, () => ({ data: mean, dims }));
  const deviationName = context.cachedFloats(`${call.baseName}/std:${input.layout}`, `${call.baseName}/std`, () => ({ data: deviation, dims }));
  const graph = context.graph;
  const output = invert
    ? graph.addOp('Add', [graph.addOp('Mul', [input.name, deviationName]), meanName], {}, call.baseName)
    : graph.addOp('Div', [graph.addOp('Sub', [input.name, meanName]), deviationName], {}, call.baseName);
  const where = perChannel ? `axis ${axis}` : 'all axes';
  return { output: produced(output, input.shape, input.layout), handling: `${invert ? 'Mul + Add (inverted)' : 'Sub + Div'} normalization over ${where}` };
}

function statistic(call: LayerCall, configured: Json | undefined, name: 'mean' | 'variance', count: number): Float32Array {
  if (configured !== undefined && configured !== null) {
    const values = flattenNumbers(configured);
    if (values !== null && (values.length === count || values.length === 1)) {
      return values.length === count ? Float32Array.from(values) : new Float32Array(count).fill(values[0] ?? 0);
    }
    throw unsupported(call.context, call.layer, `option ${name}`, configured);
  }
  // adapt() stores the statistics with the reduced shape (such as [3]) or the broadcast shape (such as [1, 1, 1, 3]).
  const stored = call.weights.require([name], null);
  if (stored.data.length !== count) throw unsupported(call.context, call.layer, `weight ${name} with ${stored.data.length} values for ${count} channels`);
  return stored.data;
}

function flattenNumbers(value: Json): number[] | null {
  if (typeof value === 'number') return [value];
  if (!Array.isArray(value)) return null;
  const out: number[] = [];
  for (const item of value) {
    const inner = flattenNumbers(item);
    if (inner === null) return null;
    out.push(...inner);
  }
  return out;
}

/** Rescaling computes x * scale + offset; both may be scalars or per-channel lists. */
export function convertRescaling(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const { options, context } = call;
  const scale = flattenNumbers(options.raw('scale') ?? 1);
  const offset = flattenNumbers(options.raw('offset') ?? 0);
  if (scale === null) throw unsupported(context, call.layer, 'option scale', options.raw('scale') ?? null);
  if (offset === null) throw unsupported(context, call.layer, 'option offset', options.raw('offset') ?? null);
  const channelAxis = input.shape.length - 1;
  const constant = (values: number[], suffix: string): string => {
    const dims = values.length === 1 ? [] : broadcastDims(input, channelAxis, values.length);
    return context.cachedFloats(`${call.baseName}/${suffix}:${input.layout}`, `${call.baseName}/${suffix}`, () => ({ data: Float32Array.from(values), dims }));
  };
  let output = context.graph.addOp('Mul', [input.name, constant(scale, 'scale')], {}, `${call.baseName}_scale`);
  const hasOffset = offset.some((value) => value !== 0);
  if (hasOffset) output = context.graph.addOp('Add', [output, constant(offset, 'offset')], {}, call.baseName);
  if (input.fromInput) context.hints.rescalesInGraph = true;
  const describe = (values: number[]): string => (values.length === 1 ? String(values[0]) : `[${values.join(', ')}]`);
  return { output: produced(output, input.shape, input.layout), handling: `Mul ${describe(scale)}${hasOffset ? ` + Add ${describe(offset)}` : ''}` };
}
