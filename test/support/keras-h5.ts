/**
 * Writes small Keras-style HDF5 model files with h5wasm, laid out like the files
 * Keras 2 (tf.keras) and Keras 3 write with `model.save('x.h5')`. Each file has a
 * `model_config` JSON attribute, `keras_version` and `backend`, and a
 * `model_weights` group with one group per top-level layer. Each layer group lists
 * its datasets in `weight_names`.
 */
import h5wasm from 'h5wasm/node';
import type { Tensor } from './reference-ops.js';

export type KerasStyle = 'keras2' | 'keras3';

type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
type JsonObject = { [key: string]: JsonValue };

/** An input of a layer call in a Functional model: a layer name (node 0, tensor 0) or a full reference. */
export type InboundRef = string | { layer: string; node: number; tensor: number };

export interface LayerDef {
  className: string;
  name: string;
  /** Class-specific config; name, trainable and dtype are added in the style's format. */
  config?: JsonObject;
  /** Variables in Keras order, such as [['kernel', k], ['bias', b]]. */
  weights?: Array<[string, Tensor]>;
  /** Functional models only: one entry per call of the layer, each listing its inputs. */
  calls?: InboundRef[][];
  /** Functional models only: keyword arguments written into the call (Keras 3 `kwargs`, Keras 2 fourth element). */
  callKwargs?: JsonObject;
}

export interface NestedModelDef {
  model: ModelDef;
  calls?: InboundRef[][];
}

export interface ModelDef {
  kind: 'sequential' | 'functional';
  name: string;
  /** Input shape without the batch dimension; null omits the InputLayer (Sequential only). */
  inputShape: (number | null)[] | null;
  inputName?: string;
  layers: Array<LayerDef | NestedModelDef>;
  /** Functional models only: the layer (or layers) whose output is the model output. */
  output?: string | string[];
}

export interface KerasFileOptions {
  style: KerasStyle;
  /** Defaults to 2.12.0 or 3.9.1 by style. */
  kerasVersion?: string;
  /** Skips the model_config attribute, as in a weights-only file. */
  omitModelConfig?: boolean;
  /** Writes this text as model_config instead of the model's JSON. */
  modelConfigText?: string;
}

function isNested(entry: LayerDef | NestedModelDef): entry is NestedModelDef {
  return 'model' in entry;
}

function dtypeOf(style: KerasStyle): JsonValue {
  if (style === 'keras2') return 'float32';
  return { module: 'keras', class_name: 'DTypePolicy', config: { name: 'float32' }, registered_name: null };
}

function inputLayerName(model: ModelDef): string {
  return model.inputName ?? `${model.name}_input`;
}

function inputLayerJson(style: KerasStyle, model: ModelDef, functional: boolean): JsonObject {
  const shape: JsonValue = [null, ...(model.inputShape ?? [])];
  const name = inputLayerName(model);
  const config: JsonObject = style === 'keras2'
    ? { batch_input_shape: shape, dtype: 'float32', sparse: false, ragged: false, name }
    : { batch_shape: shape, dtype: 'float32', sparse: false, name };
  const entry: JsonObject = style === 'keras2' ? { class_name: 'InputLayer', config } : { module: 'keras.layers', class_name: 'InputLayer', config, registered_name: null };
  if (functional) Object.assign(entry, { name, inbound_nodes: [] });
  return entry;
}

function refOf(ref: InboundRef): { layer: string; node: number; tensor: number } {
  return typeof ref === 'string' ? { layer: ref, node: 0, tensor: 0 } : ref;
}

function inboundJson(style: KerasStyle, calls: InboundRef[][], kwargs: JsonObject): JsonValue {
  if (style === 'keras2') {
    return calls.map((call) => call.map((ref) => {
      const { layer, node, tensor } = refOf(ref);
      return [layer, node, tensor, kwargs];
    }));
  }
  return calls.map((call) => {
    const tensors = call.map((ref) => {
      const { layer, node, tensor } = refOf(ref);
      return { class_name: '__keras_tensor__', config: { shape: [null], dtype: 'float32', keras_history: [layer, node, tensor] } };
    });
    // Keras 3 passes a merge layer's inputs as one list argument.
    return { args: tensors.length === 1 ? tensors : [tensors], kwargs };
  });
}

function layerJson(style: KerasStyle, layer: LayerDef, functional: boolean): JsonObject {
  const config: JsonObject = { name: layer.name, trainable: true, dtype: dtypeOf(style), ...(layer.config ?? {}) };
  const entry: JsonObject = style === 'keras2'
    ? { class_name: layer.className, config }
    : { module: 'keras.layers', class_name: layer.className, config, registered_name: null };
  if (functional) {
    entry.name = layer.name;
    entry.inbound_nodes = inboundJson(style, layer.calls ?? [], layer.callKwargs ?? {});
  }
  return entry;
}

/** Builds the JSON of a model, as a top-level config or as a layer of an outer model. */
export function modelJson(style: KerasStyle, model: ModelDef, asLayer?: { functionalParent: boolean; calls: InboundRef[][] }): JsonObject {
  const functional = model.kind === 'functional';
  const layers: JsonValue[] = [];
  if (model.inputShape !== null) layers.push(inputLayerJson(style, model, functional));
  for (const entry of model.layers) {
    if (isNested(entry)) layers.push(modelJson(style, entry.model, { functionalParent: functional, calls: entry.calls ?? [] }));
    else layers.push(layerJson(style, entry, functional));
  }
  const config: JsonObject = { name: model.name, layers };
  if (style === 'keras3') Object.assign(config, { trainable: true, dtype: dtypeOf(style) });
  if (functional) {
    const input: JsonValue = [inputLayerName(model), 0, 0];
    const outputs: JsonValue[] = (Array.isArray(model.output) ? model.output : [model.output ?? '']).map((name) => [name, 0, 0]);
    // Keras 3 writes a single input or output as a bare triple, Keras 2 as a list of triples.
    config.input_layers = style === 'keras3' ? input : [input];
    config.output_layers = style === 'keras3' && outputs.length === 1 ? outputs[0] ?? null : outputs;
  }
  const className = functional ? 'Functional' : 'Sequential';
  const entry: JsonObject = style === 'keras2'
    ? { class_name: className, config }
    : { module: functional ? 'keras.src.models.functional' : 'keras', class_name: className, config, registered_name: functional ? 'Functional' : null };
  if (asLayer?.functionalParent) {
    entry.name = model.name;
    entry.inbound_nodes = inboundJson(style, asLayer.calls, {});
  }
  return entry;
}

interface WeightRecord {
  /** Name as listed in `weight_names`, also the dataset path inside the layer group. */
  name: string;
  value: Tensor;
}

/** Lists the `weight_names` entries of one top-level layer group. */
function weightRecords(style: KerasStyle, outer: ModelDef, entry: LayerDef | NestedModelDef): WeightRecord[] {
  const records: WeightRecord[] = [];
  const visit = (model: ModelDef, path: string[]): void => {
    for (const inner of model.layers) {
      if (isNested(inner)) visit(inner.model, [...path, inner.model.name]);
      else {
        for (const [variable, value] of inner.weights ?? []) {
          const name = style === 'keras2' ? `${inner.name}/${variable}:0` : [...path, inner.name, variable].join('/');
          records.push({ name, value });
        }
      }
    }
  };
  if (isNested(entry)) visit(entry.model, [outer.name, entry.model.name]);
  else visit({ ...outer, layers: [entry] }, [outer.name]);
  return records;
}

function topLevelName(entry: LayerDef | NestedModelDef): string {
  return isNested(entry) ? entry.model.name : entry.name;
}

function fixedStrings(values: string[]): { data: string[]; dtype: string } {
  const width = Math.max(1, ...values.map((value) => Buffer.byteLength(value)));
  return { data: values, dtype: `S${width}` };
}

/** Writes `model` to `path` as a Keras HDF5 file. */
export async function writeKerasModel(path: string, model: ModelDef, options: KerasFileOptions): Promise<void> {
  await h5wasm.ready;
  const kerasVersion = options.kerasVersion ?? (options.style === 'keras2' ? '2.12.0' : '3.9.1');
  const file = new h5wasm.File(path, 'w');
  try {
    if (options.omitModelConfig !== true) file.create_attribute('model_config', options.modelConfigText ?? JSON.stringify(modelJson(options.style, model)));
    file.create_attribute('keras_version', kerasVersion);
    file.create_attribute('backend', 'tensorflow');
    const weightsGroup = file.create_group('model_weights');
    const names = model.layers.map(topLevelName);
    const layerNames = fixedStrings(names);
    weightsGroup.create_attribute('layer_names', layerNames.data, [names.length], layerNames.dtype);
    weightsGroup.create_attribute('keras_version', kerasVersion);
    weightsGroup.create_attribute('backend', 'tensorflow');
    for (const entry of model.layers) writeLayerGroup(weightsGroup, topLevelName(entry), weightRecords(options.style, model, entry));
  } finally {
    file.close();
  }
}

function writeLayerGroup(parent: InstanceType<typeof h5wasm.Group>, name: string, records: WeightRecord[]): void {
  const group = parent.create_group(name);
  if (records.length === 0) {
    // h5py writes an empty weight list as a zero-length float64 array.
    group.create_attribute('weight_names', new Float64Array(0), [0], '<d');
    return;
  }
  const listed = fixedStrings(records.map((record) => record.name));
  group.create_attribute('weight_names', listed.data, [records.length], listed.dtype);
  for (const record of records) {
    const segments = record.name.split('/');
    const datasetName = segments.pop() ?? record.name;
    let current = group;
    for (const segment of segments) {
      const existing = current.get(segment);
      current = existing instanceof h5wasm.Group ? existing : current.create_group(segment);
    }
    current.create_dataset({ name: datasetName, data: Float32Array.from(record.value.data), shape: record.value.shape, dtype: '<f' });
  }
}
