/** ZeroPadding2D and Resizing. */
import { attr, type Attributes } from '../../onnx-builder.js';
import { onnxAxis, requireRank, unsupported, type TensorValue } from '../context.js';
import type { Json } from '../config.js';
import { produced, singleInput, type LayerCall, type LayerResult } from './types.js';

/** Reads ZeroPadding2D's `padding`: n, (h, w) or ((top, bottom), (left, right)). */
function readPadding(call: LayerCall, value: Json | undefined): [number, number, number, number] {
  const isInt = (item: Json | undefined): item is number => typeof item === 'number' && Number.isInteger(item) && item >= 0;
  if (value === undefined || value === null) return [1, 1, 1, 1];
  if (isInt(value)) return [value, value, value, value];
  if (Array.isArray(value) && value.length === 2) {
    const [height, width] = value;
    if (isInt(height) && isInt(width)) return [height, height, width, width];
    if (Array.isArray(height) && Array.isArray(width) && height.length === 2 && width.length === 2) {
      const [top, bottom] = height;
      const [left, right] = width;
      if (isInt(top) && isInt(bottom) && isInt(left) && isInt(right)) return [top, bottom, left, right];
    }
  }
  throw unsupported(call.context, call.layer, 'option padding', value);
}

export function convertZeroPadding2D(call: LayerCall): LayerResult {
  const input = singleInput(call);
  requireRank(call.context, input, 4, call.layer);
  call.options.channelsLast();
  const [top, bottom, left, right] = readPadding(call, call.options.raw('padding'));
  const begin = [0, 0, 0, 0];
  const end = [0, 0, 0, 0];
  const heightAxis = onnxAxis(1, 4, input.layout);
  const widthAxis = onnxAxis(2, 4, input.layout);
  begin[heightAxis] = top;
  end[heightAxis] = bottom;
  begin[widthAxis] = left;
  end[widthAxis] = right;
  const output = call.context.graph.addOp('Pad', [input.name, call.context.ints([...begin, ...end])], { mode: attr.string('constant') }, call.baseName);
  const grow = (size: number | null | undefined, extra: number): number | null => (size === null || size === undefined ? null : size + extra);
  const shape = [input.shape[0] ?? null, grow(input.shape[1], top + bottom), grow(input.shape[2], left + right), input.shape[3] ?? null];
  return { output: produced(output, shape, input.layout), handling: `Pad top ${top}, bottom ${bottom}, left ${left}, right ${right}` };
}

/**
 * Resizing as TensorFlow's `tf.image.resize` without antialiasing: bilinear with
 * half-pixel centres (ONNX Resize linear, half_pixel), or nearest with
 * in = min(floor((out + 0.5) * in_size / out_size), in_size - 1).
 */
export function convertResizing(call: LayerCall): LayerResult {
  const input = singleInput(call);
  requireRank(call.context, input, 4, call.layer);
  const { options } = call;
  options.channelsLast();
  const height = options.int('height');
  const width = options.int('width');
  const interpolation = options.choice('interpolation', ['bilinear', 'nearest'], 'bilinear');
  options.expect('crop_to_aspect_ratio', [false]);
  options.expect('pad_to_aspect_ratio', [false]);
  options.expect('antialias', [false]);
  // Only used when pad_to_aspect_ratio is set, which is rejected above.
  options.ignore('fill_mode', 'fill_value');
  const output = interpolation === 'nearest' && input.shape[1] !== null && input.shape[2] !== null
    ? emitNearestGather(call, input, height, width)
    : emitResize(call, input, height, width, interpolation);
  if (input.fromInput) call.context.hints.resizesInGraph = true;
  const shape = [input.shape[0] ?? null, height, width, input.shape[3] ?? null];
  const value: TensorValue = { name: output.name, shape, layout: output.layout, fromInput: input.fromInput };
  return { output: value, handling: output.handling };
}

interface ResizeOutput {
  name: string;
  layout: 'nchw' | 'nhwc';
  handling: string;
}

/** ONNX Resize in NCHW with `sizes` built from the input's own batch and channel dimensions. */
function emitResize(call: LayerCall, input: TensorValue, height: number, width: number, interpolation: 'bilinear' | 'nearest'): ResizeOutput {
  const { context } = call;
  const graph = context.graph;
  const x = context.toNchw(input);
  const shape = graph.addOp('Shape', [x]);
  const batchAndChannels = graph.addOp('Slice', [shape, context.ints([0]), context.ints([2])]);
  const sizes = graph.addOp('Concat', [batchAndChannels, context.ints([height, width])], { axis: attr.int(0) });
  const modeAttributes: Attributes = interpolation === 'bilinear'
    ? { mode: attr.string('linear') }
    : { mode: attr.string('nearest'), nearest_mode: attr.string('round_prefer_ceil') };
  const name = graph.addOp('Resize', [x, '', '', sizes], { coordinate_transformation_mode: attr.string('half_pixel'), ...modeAttributes }, call.baseName);
  return { name, layout: 'nchw', handling: `Resize ${interpolation} (half_pixel) to ${height}x${width}` };
}

/**
 * Nearest resizing as two Gathers with the source rows and columns computed here in
 * float32 the way TensorFlow's kernel does, so ties round exactly as in Keras.
 */
function emitNearestGather(call: LayerCall, input: TensorValue, height: number, width: number): ResizeOutput {
  const { context } = call;
  const inHeight = input.shape[1] ?? 0;
  const inWidth = input.shape[2] ?? 0;
  const rows = context.ints(nearestSourceIndices(inHeight, height));
  const columns = context.ints(nearestSourceIndices(inWidth, width));
  const layout = input.layout;
  const byRow = context.graph.addOp('Gather', [input.name, rows], { axis: attr.int(onnxAxis(1, 4, layout)) });
  const name = context.graph.addOp('Gather', [byRow, columns], { axis: attr.int(onnxAxis(2, 4, layout)) }, call.baseName);
  return { name, layout, handling: `Gather rows and columns (nearest, TensorFlow half-pixel rule) to ${height}x${width}` };
}

/** TensorFlow's nearest-neighbour source index for each output index, in float32 arithmetic. */
export function nearestSourceIndices(inSize: number, outSize: number): number[] {
  const scale = Math.fround(inSize / outSize);
  return Array.from({ length: outSize }, (_, index) => Math.min(Math.floor(Math.fround(Math.fround(index + 0.5) * scale)), inSize - 1));
}
