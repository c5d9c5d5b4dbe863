/**
 * Walks a Keras model (Sequential or Functional, nested to any depth) and emits
 * one flat ONNX graph. Nested models are inlined: their layers become nodes of the
 * same graph, named with the path of models they sit in ("sequential_1/model1/Conv1").
 */
import { CascadeError, isCascadeError } from '../../shared/errors.js';
import { isJsonObject, MODEL_CLASSES, parseModel, parseShape, type Json, type LayerSpec, type ModelSpec, type TensorRef } from './config.js';
import { unsupported, type ConversionContext, type TensorValue } from './context.js';
import { LAYER_CONVERTERS, supportedLayerClasses } from './layers/registry.js';
import { LayerOptions } from './options.js';
import type { WeightScope } from './weights.js';

/** The position of a model body: the top-level weight group it belongs to and the nested models below that. */
interface ModelScope {
  /** The top-level layer whose weight group contains this model's weights; null for the outermost model. */
  topLevel: string | null;
  innerPath: string[];
  /** Prefix of layer names in reports and ONNX names, such as "sequential_1/model1/". */
  prefix: string;
}

export interface ConvertedGraph {
  input: TensorValue;
  inputName: string;
  output: TensorValue;
}

/** Converts the outermost model: creates the graph input, walks the layers and declares the output. */
export function convertTopLevelModel(context: ConversionContext, model: ModelSpec): ConvertedGraph {
  const inputLayer = resolveInputLayer(context, model);
  const shape = inputLayer.shape;
  const dims = shape.map((dim, axis) => dim ?? symbolicDimName(axis, shape.length));
  const inputName = context.graph.addInput(inputLayer.name, dims);
  const input: TensorValue = { name: inputName, shape, layout: 'nhwc', fromInput: true };
  context.report.push({ name: inputLayer.name, className: 'InputLayer', handling: `graph input '${inputName}' (NHWC, float32)`, outputShape: [...shape] });
  const outputs = convertModelBody(context, model, [input], { topLevel: null, innerPath: [], prefix: '' });
  const [output] = outputs;
  if (outputs.length !== 1 || output === undefined) {
    throw new CascadeError('MODEL_LAYER_UNSUPPORTED', `${context.file}: the model has ${outputs.length} outputs; Cascade serves models with exactly one output`, { file: context.file, outputs: outputs.length });
  }
  const outputName = context.graph.addOp('Identity', [context.toNhwc(output)], {}, 'output');
  context.graph.addOutput(outputName, output.shape.map((dim, axis) => dim ?? (axis === 0 ? 'batch' : null)));
  return { input, inputName, output: { ...output, name: outputName, layout: 'nhwc' } };
}

/** Names free input dimensions so tools show "batch" and "height" instead of "?". */
function symbolicDimName(axis: number, rank: number): string | null {
  if (axis === 0) return 'batch';
  if (rank === 4 && axis === 1) return 'height';
  if (rank === 4 && axis === 2) return 'width';
  return null;
}

interface InputDescription {
  name: string;
  shape: (number | null)[];
}

/**
 * Finds the model's input shape. A Sequential model takes it from its InputLayer,
 * or, without one, from the first layer's `batch_input_shape` / `batch_shape`, or
 * from Keras 3's `build_input_shape`. Keras reads `batch_input_shape` only on a
 * Sequential's first layer and ignores it on later layers, so a stray value there
 * (one file in the wild carries a 5-D shape on its second Conv2D) is ignored too.
 */
function resolveInputLayer(context: ConversionContext, model: ModelSpec): InputDescription {
  if (model.kind === 'functional') {
    if (model.inputs.length !== 1) {
      throw new CascadeError('MODEL_LAYER_UNSUPPORTED', `${context.file}: the model has ${model.inputs.length} inputs; Cascade serves models with exactly one image input`, { file: context.file });
    }
    const ref = model.inputs[0];
    const layer = model.layers.find((candidate) => candidate.name === ref?.layer);
    if (layer === undefined || layer.className !== 'InputLayer') throw loadFailed(context, `the model input '${ref?.layer}' is not an InputLayer`);
    return { name: layer.name, shape: inputShapeOf(context, layer) };
  }
  const first = model.layers[0];
  if (first === undefined) throw loadFailed(context, `the Sequential model '${model.name}' has no layers`);
  if (first.className === 'InputLayer') return { name: first.name, shape: inputShapeOf(context, first) };
  const declared = declaredBatchShape(first.config) ?? model.buildInputShape;
  if (declared === null) throw loadFailed(context, `the Sequential model '${model.name}' declares no input shape (no InputLayer, batch_input_shape or build_input_shape)`);
  return { name: `${model.name}_input`, shape: normalizeBatch(declared) };
}

function inputShapeOf(context: ConversionContext, layer: LayerSpec): (number | null)[] {
  const declared = declaredBatchShape(layer.config);
  if (declared === null) throw loadFailed(context, `InputLayer '${layer.name}' has no batch_shape or batch_input_shape`);
  return normalizeBatch(declared);
}

function declaredBatchShape(config: Record<string, Json>): (number | null)[] | null {
  const batchShape = parseShape(config.batch_shape ?? config.batch_input_shape ?? null);
  if (batchShape !== null) return batchShape;
  const inputShape = parseShape(config.input_shape ?? config.shape ?? null);
  return inputShape === null ? null : [null, ...inputShape];
}

/** Frees the batch dimension: the ONNX graph takes any batch size, even when the file fixes one. */
function normalizeBatch(shape: (number | null)[]): (number | null)[] {
  return [null, ...shape.slice(1)];
}

/** Converts the layers of a model given its input tensors; returns its output tensors. */
function convertModelBody(context: ConversionContext, model: ModelSpec, inputs: TensorValue[], scope: ModelScope): TensorValue[] {
  if (model.kind === 'sequential') return convertSequentialBody(context, model, inputs, scope);
  return convertFunctionalBody(context, model, inputs, scope);
}

function convertSequentialBody(context: ConversionContext, model: ModelSpec, inputs: TensorValue[], scope: ModelScope): TensorValue[] {
  let [current] = inputs;
  if (inputs.length !== 1 || current === undefined) {
    throw new CascadeError('MODEL_LAYER_UNSUPPORTED', `${context.file}: Sequential '${model.name}' received ${inputs.length} inputs; a Sequential model takes one`, { file: context.file });
  }
  for (const layer of model.layers) {
    if (layer.className === 'InputLayer') continue;
    const outputs = convertLayerCall(context, layer, [current], scope, 0);
    current = single(context, layer, outputs);
  }
  return [current];
}

function convertFunctionalBody(context: ConversionContext, model: ModelSpec, inputs: TensorValue[], scope: ModelScope): TensorValue[] {
  const values = new Map<string, TensorValue>();
  if (inputs.length !== model.inputs.length) {
    throw loadFailed(context, `Functional '${model.name}' expects ${model.inputs.length} inputs but receives ${inputs.length}`);
  }
  model.inputs.forEach((ref, index) => {
    const value = inputs[index];
    if (value !== undefined) values.set(refKey({ ...ref, node: 0, tensor: 0 }), value);
  });
  const pending = model.layers.flatMap((layer) => (layer.className === 'InputLayer' ? [] : layer.inbound.map((_, callIndex) => ({ layer, callIndex }))));
  // Keras writes layers in creation order, which is not always a valid evaluation
  // order, so calls are retried until every input is available.
  while (pending.length > 0) {
    const ready = pending.findIndex(({ layer, callIndex }) => layer.inbound[callIndex]?.inputs.every((ref) => values.has(refKey(ref))));
    if (ready === -1) {
      const waiting = pending.map(({ layer }) => layer.name).join(', ');
      throw loadFailed(context, `Functional '${model.name}' has layers whose inputs are never produced: ${waiting}`);
    }
    const entry = pending[ready];
    pending.splice(ready, 1);
    const call = entry?.layer.inbound[entry.callIndex];
    if (entry === undefined || call === undefined) continue;
    const { layer, callIndex } = entry;
    checkCallArguments(context, layer, call.kwargs, call.constantArgs);
    const callInputs = call.inputs.map((ref) => values.get(refKey(ref))).filter((value): value is TensorValue => value !== undefined);
    const outputs = convertLayerCall(context, layer, callInputs, scope, callIndex);
    outputs.forEach((output, tensor) => values.set(refKey({ layer: layer.name, node: callIndex, tensor }), output));
  }
  return model.outputs.map((ref) => {
    const value = values.get(refKey(ref));
    if (value === undefined) throw loadFailed(context, `Functional '${model.name}' output ${ref.layer}[${ref.node}][${ref.tensor}] is never produced`);
    return value;
  });
}

/** Converts one call of one layer (a nested model is walked recursively). */
function convertLayerCall(context: ConversionContext, layer: LayerSpec, inputs: TensorValue[], scope: ModelScope, callIndex: number): TensorValue[] {
  checkLayerOrigin(context, layer);
  const displayName = `${scope.prefix}${layer.name}`;

  if (MODEL_CLASSES.has(layer.className)) {
    const nested = parseModel({ class_name: layer.className, config: layer.config, name: layer.name });
    const childScope: ModelScope = scope.topLevel === null
      ? { topLevel: layer.name, innerPath: [], prefix: `${displayName}/` }
      : { topLevel: scope.topLevel, innerPath: [...scope.innerPath, layer.name], prefix: `${displayName}/` };
    const outputs = convertModelBody(context, nested, inputs, childScope);
    context.report.push({ name: displayName, className: layer.className, handling: `nested model, inlined (${nested.layers.length} layers)`, outputShape: [...(outputs[0]?.shape ?? [])] });
    return outputs;
  }

  const converter = LAYER_CONVERTERS.get(layer.className);
  if (converter === undefined) throw unsupportedClass(context, layer);
  checkDtype(context, layer);

  const weightScope: WeightScope = scope.topLevel === null
    ? { topLevel: layer.name, innerPath: [] }
    : { topLevel: scope.topLevel, innerPath: [...scope.innerPath, layer.name] };
  const options = new LayerOptions(context, layer);
  const baseName = callIndex === 0 ? displayName : `${displayName}_call${callIndex}`;
  let result;
  try {
    result = converter({ context, layer, inputs, options, weights: context.weightsFor(weightScope, displayName), baseName });
  } catch (error) {
    // An option this converter does not implement explains a failure better than
    // its consequence (a missing weight, say), so report it first.
    if (!(isCascadeError(error) && error.code === 'MODEL_LAYER_UNSUPPORTED')) options.finish();
    throw error;
  }
  options.finish();

  context.report.push({ name: displayName, className: layer.className, handling: result.handling, outputShape: [...result.output.shape] });
  return [result.output];
}

function single(context: ConversionContext, layer: LayerSpec, outputs: TensorValue[]): TensorValue {
  const [output] = outputs;
  if (outputs.length !== 1 || output === undefined) {
    throw new CascadeError('MODEL_LAYER_UNSUPPORTED', `${context.file}: ${layer.className} '${layer.name}' has ${outputs.length} outputs inside a Sequential model; only single-output layers are supported there`, { file: context.file, layer: layer.name });
  }
  return output;
}

/** Rejects call arguments the converter does not wire, such as `training=True` (Monte Carlo dropout) or a mask. */
function checkCallArguments(context: ConversionContext, layer: LayerSpec, kwargs: Record<string, Json>, constants: Json[]): void {
  const [key] = Object.keys(kwargs);
  if (key !== undefined) throw unsupported(context, layer, `call argument ${key}`, kwargs[key] ?? null);
  if (constants.length > 0) throw unsupported(context, layer, 'call with constant arguments', constants);
}

/** Custom layers (registered with Keras by user code) have no definition in the file, so they cannot be converted. */
function checkLayerOrigin(context: ConversionContext, layer: LayerSpec): void {
  const custom = (layer.module !== null && !layer.module.startsWith('keras')) || (layer.registeredName !== null && layer.registeredName !== layer.className);
  if (custom) throw unsupported(context, layer, `custom layer class (module ${layer.module ?? 'unknown'}, registered as ${layer.registeredName ?? layer.className})`);
}

const FLOAT_DTYPES = new Set(['float16', 'float32', 'float64', 'bfloat16', 'mixed_float16', 'mixed_bfloat16']);

/**
 * Accepts float dtype policies. The graph always computes in float32; a model
 * trained with mixed precision keeps float32 weights, so its results differ from
 * Keras' float16 arithmetic only by rounding. Quantized policies are rejected.
 */
function checkDtype(context: ConversionContext, layer: LayerSpec): void {
  const dtype = layer.config.dtype;
  if (dtype === undefined || dtype === null) return;
  let name: Json | undefined = dtype;
  if (isJsonObject(dtype)) {
    const policyConfig = dtype.config;
    name = isJsonObject(policyConfig) ? policyConfig.name : undefined;
    if (dtype.class_name !== 'DTypePolicy' && dtype.class_name !== 'FloatDTypePolicy' && dtype.class_name !== 'Policy') name = undefined;
  }
  if (typeof name === 'string' && FLOAT_DTYPES.has(name)) return;
  throw unsupported(context, layer, 'option dtype', dtype);
}

function unsupportedClass(context: ConversionContext, layer: LayerSpec): CascadeError {
  return new CascadeError(
    'MODEL_LAYER_UNSUPPORTED',
    `${context.file}: layer '${layer.name}' of class ${layer.className} is not supported (supported: ${supportedLayerClasses().join(', ')}); export the model to ONNX (tf2onnx) and serve the .onnx file`,
    { file: context.file, layer: layer.name, className: layer.className },
  );
}

function loadFailed(context: ConversionContext, reason: string): CascadeError {
  return new CascadeError('MODEL_LOAD_FAILED', `${context.file}: ${reason}; the model_config is not a model Cascade can read`, { file: context.file });
}

function refKey(ref: TensorRef): string {
  return `${ref.layer}\u0000${ref.node}\u0000${ref.tensor}`;
}
