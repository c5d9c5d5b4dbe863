/**
 * The ONNX format: the file already is a graph ONNX Runtime loads, so `convert`
 * only reads its input and output shapes and lists its nodes for reports.
 */
import { readFile } from 'node:fs/promises';
import pkg from 'onnx-proto';
import { CascadeError } from '../shared/errors.js';
import type { ConvertedModel, LayerReport, ModelFormat } from './types.js';

const { onnx } = pkg;

type ModelProto = InstanceType<typeof onnx.ModelProto>;
type ValueInfo = pkg.onnx.IValueInfoProto;

/** Highest IR version this check accepts; ONNX 1.17 writes 10, and the margin covers newer releases. */
const MAX_IR_VERSION = 15;

/**
 * Checks whether the first bytes look like a serialized ModelProto. Exporters write
 * the fields in number order, so the file starts with field 1 (ir_version, a
 * varint), which is tag byte 0x08 followed by a small version number.
 */
export function looksLikeOnnx(head: Uint8Array): boolean {
  const version = head[1];
  return head[0] === 0x08 && version !== undefined && version >= 1 && version <= MAX_IR_VERSION;
}

export const onnxFormat: ModelFormat = {
  name: 'onnx',
  matches: looksLikeOnnx,
  convert: readOnnxFile,
};

export async function readOnnxFile(path: string): Promise<ConvertedModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${path}: the model file could not be read (${error instanceof Error ? error.message : String(error)})`, { file: path }, { cause: error });
  }
  const onnxBytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return describeOnnxModel(path, onnxBytes);
}

/** Decodes an ONNX model and describes its single input and output. */
export function describeOnnxModel(path: string, onnxBytes: Uint8Array): ConvertedModel {
  const model = decodeModel(path, onnxBytes);
  const graph = model.graph;
  if (graph === null || graph === undefined) throw loadFailed(path, 'the ModelProto has no graph');
  const initializerNames = new Set((graph.initializer ?? []).map((tensor) => tensor.name ?? ''));
  // IR versions before 4 list initializers among the inputs too; those are not fed by callers.
  const inputs = (graph.input ?? []).filter((input) => !initializerNames.has(input.name ?? ''));
  const outputs = graph.output ?? [];
  const [input] = inputs;
  const [output] = outputs;

  if (inputs.length !== 1 || input === undefined) throw loadFailed(path, `the graph has ${inputs.length} inputs; Cascade serves models with exactly one image input`);
  if (outputs.length !== 1 || output === undefined) throw loadFailed(path, `the graph has ${outputs.length} outputs; Cascade serves models with exactly one output`);

  const inputShape = shapeOf(input);
  const outputShape = shapeOf(output);
  const layout = layoutOf(inputShape);
  const spatial = layout === 'nchw' ? [inputShape[2], inputShape[3]] : [inputShape[1], inputShape[2]];
  const opsets = (model.opsetImport ?? []).map((entry) => `${entry.domain || 'ai.onnx'} ${String(entry.version)}`).join(', ');
  return {
    onnx: onnxBytes,
    inputShape,
    outputShape,
    layout,
    hints: {
      height: inputShape.length === 4 ? spatial[0] ?? null : null,
      width: inputShape.length === 4 ? spatial[1] ?? null : null,
      rescalesInGraph: false,
      resizesInGraph: false,
    },
    layers: summarizeNodes(graph),
    description: `ONNX IR ${String(model.irVersion)} (${opsets}), producer ${model.producerName || 'unknown'}, ${(graph.node ?? []).length} nodes`,
  };
}

function decodeModel(path: string, bytes: Uint8Array): ModelProto {
  try {
    return onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw loadFailed(path, `the file is not a valid ONNX ModelProto (${error instanceof Error ? error.message : String(error)})`);
  }
}

function shapeOf(value: ValueInfo): (number | null)[] {
  const dims = value.type?.tensorType?.shape?.dim ?? [];
  return dims.map((dim) => {
    const size = dim.dimValue;
    if (size === null || size === undefined) return null;
    const number = typeof size === 'number' ? size : size.toNumber();
    return number > 0 ? number : null;
  });
}

/**
 * NCHW when the channel dimension (3, or 1 for grey images) is at index 1, NHWC
 * when it is last. Other shapes, such as non-image inputs, are reported as NCHW,
 * the ONNX convention; callers can override the layout in the model settings.
 */
function layoutOf(shape: (number | null)[]): 'nhwc' | 'nchw' {
  if (shape.length !== 4) return 'nchw';
  const second = shape[1];
  const last = shape[3];
  if (second === 3) return 'nchw';
  if (last === 3) return 'nhwc';
  if (second === 1) return 'nchw';
  if (last === 1) return 'nhwc';
  return 'nchw';
}

function summarizeNodes(graph: pkg.onnx.IGraphProto): LayerReport[] {
  const shapes = new Map<string, (number | null)[]>();
  for (const info of [...(graph.valueInfo ?? []), ...(graph.output ?? [])]) shapes.set(info.name ?? '', shapeOf(info));
  return (graph.node ?? []).map((node, index) => {
    const firstOutput = node.output?.[0] ?? '';
    return {
      name: node.name || `${node.opType ?? 'node'}_${index}`,
      className: node.opType ?? 'unknown',
      handling: node.domain ? `ONNX node (domain ${node.domain})` : 'ONNX node',
      outputShape: shapes.get(firstOutput) ?? [],
    };
  });
}

function loadFailed(path: string, reason: string): CascadeError {
  return new CascadeError('MODEL_LOAD_FAILED', `${path}: ${reason}`, { file: path });
}
