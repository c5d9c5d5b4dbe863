/**
 * The state shared by the layer converters while one Keras model becomes one ONNX
 * graph: the graph builder, the weights, the per-layer report and the layout of
 * every tensor.
 *
 * Layout: a tensor's `shape` is always in Keras order (batch, height, width,
 * channels). Four-dimensional tensors additionally carry the layout they really
 * have in the ONNX graph. Convolutions and pooling run in NCHW, the layout ONNX
 * defines them in. Layers whose meaning depends on element order (Flatten,
 * Reshape, Dense, the graph output) get NHWC, as in Keras. `toNchw` / `toNhwc`
 * insert a Transpose only when the layout really changes, and reuse it.
 */
import { CascadeError } from '../../shared/errors.js';
import type { LayerReport } from '../types.js';
import { attr, type OnnxGraphBuilder } from '../onnx-builder.js';
import type { LayerWeights, WeightStore, WeightScope } from './weights.js';
import type { Json, LayerSpec } from './config.js';

export type Shape = readonly (number | null)[];
export type Layout = 'nhwc' | 'nchw';

export interface TensorValue {
  /** Name of the ONNX value. */
  readonly name: string;
  /** Shape in Keras order, batch first. */
  readonly shape: Shape;
  /** Real layout in the ONNX graph; always 'nhwc' (Keras order) unless the tensor is 4-D. */
  readonly layout: Layout;
  /** True while the tensor is the graph input passed only through InputLayer and Resizing layers. */
  readonly fromInput: boolean;
}

export interface ConversionHints {
  rescalesInGraph: boolean;
  resizesInGraph: boolean;
}

/** Keras axis order → NCHW axis order, for 4-D tensors. */
const NHWC_TO_NCHW = [0, 3, 1, 2] as const;
const NCHW_TO_NHWC = [0, 2, 3, 1] as const;

export class ConversionContext {
  readonly graph: OnnxGraphBuilder;
  readonly file: string;
  /** Major version of the Keras that saved the file; activations changed meaning between 2 and 3. */
  readonly kerasMajor: number;
  readonly report: LayerReport[] = [];
  readonly hints: ConversionHints = { rescalesInGraph: false, resizesInGraph: false };
  private readonly weights: WeightStore;
  private readonly transposed = new Map<string, string>();
  private readonly constants = new Map<string, string>();

  constructor(options: { graph: OnnxGraphBuilder; file: string; kerasMajor: number; weights: WeightStore }) {
    this.graph = options.graph;
    this.file = options.file;
    this.kerasMajor = options.kerasMajor;
    this.weights = options.weights;
  }

  weightsFor(scope: WeightScope, displayName: string): LayerWeights {
    return this.weights.forLayer(scope, displayName);
  }

  /** Returns the name of `value` in NCHW layout, adding a Transpose if it is in NHWC. */
  toNchw(value: TensorValue): string {
    requireRank(this, value, 4);
    if (value.layout === 'nchw') return value.name;
    return this.transpose(value.name, NHWC_TO_NCHW, 'nchw');
  }

  /** Returns the name of `value` in Keras (NHWC) order, adding a Transpose if it is in NCHW. */
  toNhwc(value: TensorValue): string {
    if (value.layout === 'nhwc') return value.name;
    return this.transpose(value.name, NCHW_TO_NHWC, 'nhwc');
  }

  /** Returns the name of `value` in the requested layout. */
  inLayout(value: TensorValue, layout: Layout): string {
    return layout === 'nchw' ? this.toNchw(value) : this.toNhwc(value);
  }

  /** Adds a float constant once per key, so a shared layer called twice reuses its weights. */
  cachedFloats(key: string, base: string, make: () => { data: Float32Array; dims: number[] }): string {
    const existing = this.constants.get(key);
    if (existing !== undefined) return existing;
    const { data, dims } = make();
    const name = this.graph.addInitializer(base, data, dims);
    this.constants.set(key, name);
    return name;
  }

  /** Adds a scalar float constant, shared by value. */
  scalar(value: number): string {
    return this.cachedFloats(`scalar:${value}`, 'const', () => ({ data: Float32Array.of(value), dims: [] }));
  }

  /** Adds an int64 constant, shared by value. */
  ints(values: readonly number[]): string {
    const key = `ints:${values.join(',')}`;
    const existing = this.constants.get(key);
    if (existing !== undefined) return existing;
    const name = this.graph.addInts('const_i64', values);
    this.constants.set(key, name);
    return name;
  }

  private transpose(name: string, perm: readonly number[], suffix: string): string {
    const key = `${name}->${suffix}`;
    const existing = this.transposed.get(key);
    if (existing !== undefined) return existing;
    const output = this.graph.addOp('Transpose', [name], { perm: attr.ints(perm) }, `${name}_${suffix}`);
    this.transposed.set(key, output);
    return output;
  }
}

/** Converts a Keras axis of a tensor with `rank` dimensions to the ONNX axis in `layout`. */
export function onnxAxis(kerasAxis: number, rank: number, layout: Layout): number {
  const axis = kerasAxis < 0 ? kerasAxis + rank : kerasAxis;
  if (layout === 'nhwc' || rank !== 4) return axis;
  return NHWC_TO_NCHW.indexOf(axis as 0 | 1 | 2 | 3);
}

/** Reorders a Keras-order shape to the order of `layout`. */
export function shapeInLayout(shape: Shape, layout: Layout): (number | null)[] {
  if (layout === 'nhwc' || shape.length !== 4) return [...shape];
  return NHWC_TO_NCHW.map((axis) => shape[axis] ?? null);
}

export function requireRank(context: ConversionContext, value: TensorValue, rank: number, layer?: LayerSpec): void {
  if (value.shape.length === rank) return;
  const where = layer ? `${layer.className} '${layer.name}'` : 'a layer';
  throw new CascadeError(
    'MODEL_LAYER_UNSUPPORTED',
    `${context.file}: ${where} received a ${value.shape.length}-D input of shape ${formatShape(value.shape)}, but this converter supports only ${rank}-D inputs there; export the model to ONNX instead`,
    { file: context.file, layer: layer?.name ?? null, shape: [...value.shape] },
  );
}

export function formatShape(shape: Shape): string {
  return `[${shape.map((dim) => (dim === null ? 'None' : String(dim))).join(', ')}]`;
}

/** The error for a layer class, option or call this converter does not implement. */
export function unsupported(context: ConversionContext, layer: LayerSpec, what: string, value?: Json): CascadeError {
  const shown = value === undefined ? '' : `=${formatValue(value)}`;
  return new CascadeError(
    'MODEL_LAYER_UNSUPPORTED',
    `${context.file}: ${layer.className} '${layer.name}' ${what}${shown} is not supported; re-save the model without it, or export the model to ONNX (tf2onnx) and serve the .onnx file`,
    { file: context.file, layer: layer.name, className: layer.className, option: what, value: value ?? null },
  );
}

function formatValue(value: Json): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}
