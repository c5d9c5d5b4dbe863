/** Merge layers: element-wise Add, Subtract, Multiply, Average, Maximum, Minimum, and Concatenate. */
import { CascadeError } from '../../../shared/errors.js';
import { attr } from '../../onnx-builder.js';
import { formatShape, onnxAxis, unsupported, type Layout, type Shape, type TensorValue } from '../context.js';
import { produced, type LayerCall, type LayerResult } from './types.js';

/** Inputs in one layout: NCHW when any 4-D input already is, so convolution outputs need no transpose. */
function commonLayout(inputs: readonly TensorValue[]): Layout {
  return inputs.some((input) => input.layout === 'nchw') ? 'nchw' : 'nhwc';
}

function requireInputs(call: LayerCall, minimum: number, maximum = Infinity): void {
  const count = call.inputs.length;
  if (count < minimum || count > maximum) {
    const expected = maximum === Infinity ? `at least ${minimum}` : String(minimum);
    throw unsupported(call.context, call.layer, `call with ${count} input tensors (expected ${expected})`);
  }
  const rank = call.inputs[0]?.shape.length;
  if (call.inputs.some((input) => input.shape.length !== rank)) {
    throw unsupported(call.context, call.layer, `inputs of different ranks (${call.inputs.map((input) => formatShape(input.shape)).join(', ')})`);
  }
}

/** Numpy-style broadcast of Keras shapes of equal rank, as Keras' merge layers allow. */
function broadcastShape(call: LayerCall): (number | null)[] {
  const shapes = call.inputs.map((input) => input.shape);
  const rank = shapes[0]?.length ?? 0;
  return Array.from({ length: rank }, (_, axis) => {
    const sizes = shapes.map((shape) => shape[axis] ?? null);
    const fixed = sizes.filter((size): size is number => size !== null && size !== 1);
    if (new Set(fixed).size > 1) {
      throw new CascadeError('MODEL_LOAD_FAILED', `${call.context.file}: ${call.layer.className} '${call.layer.name}' cannot combine shapes ${shapes.map(formatShape).join(' and ')}; the model_config is inconsistent`, {
        file: call.context.file,
        layer: call.layer.name,
      });
    }
    if (fixed.length > 0) return fixed[0] ?? null;
    return sizes.includes(null) ? null : 1;
  });
}

type ElementwiseKind = 'Add' | 'Subtract' | 'Multiply' | 'Average' | 'Maximum' | 'Minimum';

/** ONNX Sum, Mean, Max and Min take any number of inputs; Mul and Sub are chained. */
const ELEMENTWISE_OPS: Record<ElementwiseKind, { op: string; variadic: boolean }> = {
  Add: { op: 'Sum', variadic: true },
  Subtract: { op: 'Sub', variadic: false },
  Multiply: { op: 'Mul', variadic: false },
  Average: { op: 'Mean', variadic: true },
  Maximum: { op: 'Max', variadic: true },
  Minimum: { op: 'Min', variadic: true },
};

function convertElementwise(call: LayerCall, kind: ElementwiseKind): LayerResult {
  requireInputs(call, kind === 'Subtract' ? 2 : 1, kind === 'Subtract' ? 2 : Infinity);
  const shape = broadcastShape(call);
  const layout = shape.length === 4 ? commonLayout(call.inputs) : 'nhwc';
  const names = call.inputs.map((input) => call.context.inLayout(input, layout));
  const { op, variadic } = ELEMENTWISE_OPS[kind];
  let output: string;
  if (variadic || names.length === 1) {
    output = call.context.graph.addOp(variadic ? op : 'Identity', names, {}, call.baseName);
  } else {
    output = names.slice(1).reduce((left, right, index) => {
      const last = index === names.length - 2;
      return call.context.graph.addOp(op, [left, right], {}, last ? call.baseName : `${call.baseName}_${index}`);
    }, names[0] ?? '');
  }
  return { output: produced(output, shape, layout), handling: `${op} of ${names.length} inputs` };
}

export const convertAdd = (call: LayerCall): LayerResult => convertElementwise(call, 'Add');
export const convertSubtract = (call: LayerCall): LayerResult => convertElementwise(call, 'Subtract');
export const convertMultiply = (call: LayerCall): LayerResult => convertElementwise(call, 'Multiply');
export const convertAverage = (call: LayerCall): LayerResult => convertElementwise(call, 'Average');
export const convertMaximum = (call: LayerCall): LayerResult => convertElementwise(call, 'Maximum');
export const convertMinimum = (call: LayerCall): LayerResult => convertElementwise(call, 'Minimum');

export function convertConcatenate(call: LayerCall): LayerResult {
  requireInputs(call, 1);
  const rank = call.inputs[0]?.shape.length ?? 0;
  const rawAxis = call.options.int('axis', -1);
  const axis = rawAxis < 0 ? rawAxis + rank : rawAxis;
  if (axis <= 0 || axis >= rank) throw unsupported(call.context, call.layer, 'option axis', rawAxis);
  const shape = concatenatedShape(call, axis);
  const layout = rank === 4 ? commonLayout(call.inputs) : 'nhwc';
  const names = call.inputs.map((input) => call.context.inLayout(input, layout));
  const output = call.context.graph.addOp('Concat', names, { axis: attr.int(onnxAxis(axis, rank, layout)) }, call.baseName);
  return { output: produced(output, shape, layout), handling: `Concat on axis ${axis} (${layout === 'nchw' ? 'NCHW' : 'Keras'} order)` };
}

function concatenatedShape(call: LayerCall, axis: number): Shape {
  const first = call.inputs[0]?.shape ?? [];
  let total: number | null = 0;
  for (const input of call.inputs) {
    const size = input.shape[axis] ?? null;
    total = total === null || size === null ? null : total + size;
    const mismatch = input.shape.some((size, index) => index !== axis && index !== 0 && size !== null && first[index] !== null && size !== first[index]);
    if (mismatch) {
      throw new CascadeError('MODEL_LOAD_FAILED', `${call.context.file}: Concatenate '${call.layer.name}' cannot join ${call.inputs.map((value) => formatShape(value.shape)).join(' and ')} on axis ${axis}; the model_config is inconsistent`, {
        file: call.context.file,
        layer: call.layer.name,
      });
    }
  }
  return first.map((size, index) => (index === axis ? total : size));
}
