/**
 * A small typed builder for ONNX graphs over the `onnx-proto` package (ONNX 1.10
 * protobuf definitions). The Keras converter, demonstration-model scripts and
 * benchmarks use it to emit models that ONNX Runtime loads directly.
 *
 * Usage:
 *
 * ```ts
 * const graph = new OnnxGraphBuilder({ graphName: 'tiny' });
 * graph.addInput('x', [null, 4]);
 * const w = graph.addInitializer('w', new Float32Array(8), [4, 2]);
 * const [y] = graph.addNode('MatMul', ['x', w]);
 * graph.addOutput(y, [null, 2]);
 * const bytes = graph.toBytes();
 * ```
 *
 * Every name passed in is a base: the builder makes it unique within the graph
 * (`conv`, `conv_1`, ...) and returns the name it used, so callers never collide.
 */
import pkg from 'onnx-proto';

const { onnx } = pkg;

type AttributeProto = InstanceType<typeof onnx.AttributeProto>;
type NodeProto = InstanceType<typeof onnx.NodeProto>;
type TensorProto = InstanceType<typeof onnx.TensorProto>;
type ValueInfoProto = InstanceType<typeof onnx.ValueInfoProto>;

/** Default operator set. ONNX Runtime 1.23 supports it fully; opset 18 moved Reduce* axes to inputs. */
export const DEFAULT_OPSET = 17;

/** IR version 8 is the newest one `onnx-proto` 8 (ONNX 1.10) describes, and it allows opset 17. */
export const DEFAULT_IR_VERSION = 8;

/** A tensor dimension: a fixed size, a named symbolic size, or null for an anonymous free size. */
export type Dim = number | string | null;

/** Element types the builder writes for inputs, outputs and initializers. */
export type ElementType = 'float32' | 'int64';

/** An attribute value tagged with its ONNX type, because `1` may be an INT or a FLOAT attribute. */
export type AttributeValue =
  | { readonly kind: 'int'; readonly value: number }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'ints'; readonly value: readonly number[] }
  | { readonly kind: 'floats'; readonly value: readonly number[] };

/** Constructors for tagged attribute values: `{ axis: attr.int(1), alpha: attr.float(0.2) }`. */
export const attr = {
  int: (value: number): AttributeValue => ({ kind: 'int', value }),
  float: (value: number): AttributeValue => ({ kind: 'float', value }),
  string: (value: string): AttributeValue => ({ kind: 'string', value }),
  ints: (value: readonly number[]): AttributeValue => ({ kind: 'ints', value }),
  floats: (value: readonly number[]): AttributeValue => ({ kind: 'floats', value }),
} as const;

export type Attributes = Readonly<Record<string, AttributeValue>>;

export interface OnnxGraphBuilderOptions {
  graphName: string;
  opset?: number;
  producerName?: string;
  producerVersion?: string;
  /** Free text stored as the model's doc_string, for example the source file. */
  docString?: string;
}

export class OnnxGraphBuilder {
  readonly opset: number;
  private readonly options: OnnxGraphBuilderOptions;
  private readonly usedNames = new Set<string>();
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];

  constructor(options: OnnxGraphBuilderOptions) {
    this.options = options;
    this.opset = options.opset ?? DEFAULT_OPSET;
  }

  /**
   * Reserves a name that no other value, initializer or node of this graph uses.
   * Characters outside [A-Za-z0-9_./:-] become `_` so names stay readable in tools.
   */
  uniqueName(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_./:-]/g, '_') || 'value';
    let candidate = clean;
    for (let suffix = 1; this.usedNames.has(candidate); suffix += 1) {
      candidate = `${clean}_${suffix}`;
    }
    this.usedNames.add(candidate);
    return candidate;
  }

  /** Adds a graph input and returns its unique name. */
  addInput(base: string, dims: readonly Dim[], elementType: ElementType = 'float32'): string {
    const name = this.uniqueName(base);
    this.inputs.push(valueInfo(name, dims, elementType));
    return name;
  }

  /**
   * Declares an existing value as a graph output under its own name. To expose a
   * value under another name, route it through an `Identity` node first.
   */
  addOutput(name: string, dims: readonly Dim[], elementType: ElementType = 'float32'): void {
    this.outputs.push(valueInfo(name, dims, elementType));
  }

  /** Adds a constant tensor stored as raw little-endian bytes and returns its unique name. */
  addInitializer(base: string, data: Float32Array | BigInt64Array, dims: readonly number[]): string {
    const count = dims.reduce((product, dim) => product * dim, 1);
    if (count !== data.length) {
      throw new RangeError(`initializer '${base}' has ${data.length} values but dims [${dims.join(', ')}] need ${count}`);
    }
    const name = this.uniqueName(base);
    const dataType = data instanceof Float32Array ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64;
    this.initializers.push(
      onnx.TensorProto.create({
        name,
        dims: [...dims],
        dataType,
        rawData: littleEndianBytes(data),
      }),
    );
    return name;
  }

  /** Adds a float32 constant. */
  addFloats(base: string, values: readonly number[] | Float32Array, dims: readonly number[]): string {
    return this.addInitializer(base, Float32Array.from(values), dims);
  }

  /** Adds an int64 constant, such as a Reshape target shape or Gather indices. */
  addInts(base: string, values: readonly number[], dims: readonly number[] = [values.length]): string {
    return this.addInitializer(base, BigInt64Array.from(values, (value) => BigInt(value)), dims);
  }

  /**
   * Adds a node and returns the names of its outputs. `outputs` is either the
   * bases of the output names or a count (outputs are then named after the op).
   */
  addNode(
    opType: string,
    inputs: readonly string[],
    attributes: Attributes = {},
    outputs: readonly string[] | number = 1,
    nodeName: string = opType,
  ): string[] {
    const outputNames = typeof outputs === 'number'
      ? Array.from({ length: outputs }, () => this.uniqueName(`${nodeName}_out`))
      : outputs.map((base) => this.uniqueName(base));
    this.nodes.push(
      onnx.NodeProto.create({
        name: this.uniqueName(nodeName),
        opType,
        input: [...inputs],
        output: outputNames,
        attribute: Object.entries(attributes).map(([name, value]) => attributeProto(name, value)),
      }),
    );
    return outputNames;
  }

  /** Adds a node with exactly one output and returns that output's name. */
  addOp(opType: string, inputs: readonly string[], attributes: Attributes = {}, outputBase?: string): string {
    const [output] = this.addNode(opType, inputs, attributes, [outputBase ?? `${opType}_out`], outputBase ?? opType);
    if (output === undefined) throw new Error(`node ${opType} produced no output name`);
    return output;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  /** Builds the ModelProto message. */
  toModelProto(): InstanceType<typeof onnx.ModelProto> {
    const graph = onnx.GraphProto.create({
      name: this.options.graphName,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
    });
    return onnx.ModelProto.create({
      irVersion: DEFAULT_IR_VERSION,
      producerName: this.options.producerName ?? 'cascade',
      producerVersion: this.options.producerVersion ?? '',
      docString: this.options.docString ?? '',
      opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: this.opset })],
      graph,
    });
  }

  /** Serializes the model to the bytes ONNX Runtime's `InferenceSession.create` takes. */
  toBytes(): Uint8Array {
    const encoded = onnx.ModelProto.encode(this.toModelProto()).finish();
    // protobufjs returns a Node Buffer; a plain Uint8Array view compares and serializes the same everywhere.
    return new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength);
  }
}

function valueInfo(name: string, dims: readonly Dim[], elementType: ElementType): ValueInfoProto {
  const dim = dims.map((size) => {
    if (typeof size === 'number') return onnx.TensorShapeProto.Dimension.create({ dimValue: size });
    if (typeof size === 'string') return onnx.TensorShapeProto.Dimension.create({ dimParam: size });
    return onnx.TensorShapeProto.Dimension.create({});
  });
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: elementType === 'float32' ? onnx.TensorProto.DataType.FLOAT : onnx.TensorProto.DataType.INT64,
        shape: onnx.TensorShapeProto.create({ dim }),
      }),
    }),
  });
}

function attributeProto(name: string, value: AttributeValue): AttributeProto {
  const types = onnx.AttributeProto.AttributeType;
  switch (value.kind) {
    case 'int':
      return onnx.AttributeProto.create({ name, type: types.INT, i: value.value });
    case 'float':
      return onnx.AttributeProto.create({ name, type: types.FLOAT, f: value.value });
    case 'string':
      return onnx.AttributeProto.create({ name, type: types.STRING, s: new TextEncoder().encode(value.value) });
    case 'ints':
      return onnx.AttributeProto.create({ name, type: types.INTS, ints: [...value.value] });
    case 'floats':
      return onnx.AttributeProto.create({ name, type: types.FLOATS, floats: [...value.value] });
  }
}

/** ONNX raw_data is little-endian; copy through a DataView so big-endian hosts write it right too. */
function littleEndianBytes(data: Float32Array | BigInt64Array): Uint8Array {
  const bytes = new Uint8Array(data.length * data.BYTES_PER_ELEMENT);
  const view = new DataView(bytes.buffer);
  if (data instanceof Float32Array) {
    data.forEach((value, index) => view.setFloat32(index * 4, value, true));
  } else {
    data.forEach((value, index) => view.setBigInt64(index * 8, value, true));
  }
  return bytes;
}
