/**
 * Parses the `model_config` JSON of a Keras HDF5 file into one shape for Keras 2
 * and Keras 3 files. The two versions differ in how they write input shapes
 * (`batch_input_shape` / `batch_shape`), dtypes (strings / DTypePolicy objects) and
 * a layer's inbound nodes (nested lists / `args` with `keras_history`).
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** One output tensor of a layer call: `layer`'s node `node`, output `tensor`. */
export interface TensorRef {
  layer: string;
  node: number;
  tensor: number;
}

/** One call of a layer inside a Functional model. */
export interface InboundCall {
  inputs: TensorRef[];
  /** Keyword arguments of the call that carry a value (null and false are dropped). */
  kwargs: JsonObject;
  /** Positional arguments that are not tensors, such as a constant passed to a merge layer. */
  constantArgs: Json[];
}

export interface LayerSpec {
  className: string;
  name: string;
  config: JsonObject;
  /** Calls of this layer; empty inside a Sequential model. */
  inbound: InboundCall[];
  /** Keras 3 `module`, e.g. "keras.layers"; custom layers carry their own. */
  module: string | null;
  /** Keras 3 `registered_name`; set for custom objects such as "MyPackage>MyLayer". */
  registeredName: string | null;
}

export interface ModelSpec {
  kind: 'sequential' | 'functional';
  className: string;
  name: string;
  layers: LayerSpec[];
  /** Functional models only: the tensors fed in and read out. */
  inputs: TensorRef[];
  outputs: TensorRef[];
  /** Keras 3 Sequential `build_input_shape`, used when the model has no InputLayer. */
  buildInputShape: (number | null)[] | null;
}

export const MODEL_CLASSES = new Set(['Sequential', 'Functional', 'Model']);

export class ConfigError extends Error {}

export function isJsonObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses the text of the `model_config` attribute. */
export function parseModelConfig(text: string): ModelSpec {
  let json: Json;
  try {
    json = JSON.parse(text) as Json;
  } catch (error) {
    throw new ConfigError(`model_config is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isJsonObject(json)) throw new ConfigError('model_config is not a JSON object');
  return parseModel(json);
}

/** Parses a model entry: the whole config or a nested model used as a layer. */
export function parseModel(entry: JsonObject): ModelSpec {
  const className = stringField(entry, 'class_name');
  if (!MODEL_CLASSES.has(className)) {
    throw new ConfigError(`the top-level class is ${className}, expected Sequential or Functional`);
  }
  const rawConfig = entry.config;
  // Keras 2.0 to 2.2 wrote a Sequential config as a bare list of layers.
  const config: JsonObject = Array.isArray(rawConfig) ? { layers: rawConfig } : isJsonObject(rawConfig) ? rawConfig : {};
  const layersJson = config.layers;
  if (!Array.isArray(layersJson)) throw new ConfigError(`model '${describeName(entry, config)}' has no layer list`);
  const layers = layersJson.map((layer, index) => parseLayer(layer, index));
  const kind = className === 'Sequential' ? 'sequential' : 'functional';
  return {
    kind,
    className,
    name: describeName(entry, config),
    layers,
    inputs: kind === 'functional' ? parseRefList(config.input_layers, 'input_layers') : [],
    outputs: kind === 'functional' ? parseRefList(config.output_layers, 'output_layers') : [],
    buildInputShape: parseShape(config.build_input_shape ?? null),
  };
}

function parseLayer(layer: Json, index: number): LayerSpec {
  if (!isJsonObject(layer)) throw new ConfigError(`layer #${index} is not an object`);
  const className = stringField(layer, 'class_name');
  const config = isJsonObject(layer.config) ? layer.config : {};
  let name = `${className}_${index}`;
  if (typeof config.name === 'string') name = config.name;
  if (typeof layer.name === 'string') name = layer.name;
  return {
    className,
    name,
    config,
    inbound: parseInboundNodes(layer.inbound_nodes ?? null, name),
    module: typeof layer.module === 'string' ? layer.module : null,
    registeredName: typeof layer.registered_name === 'string' ? layer.registered_name : null,
  };
}

/** Reads both inbound-node formats: Keras 2 nested lists and Keras 3 `{args, kwargs}` objects. */
function parseInboundNodes(nodes: Json, layerName: string): InboundCall[] {
  if (nodes === null) return [];
  if (!Array.isArray(nodes)) throw new ConfigError(`layer '${layerName}' has inbound_nodes that are not a list`);
  return nodes.map((node) => (isJsonObject(node) ? parseKeras3Call(node) : parseKeras2Call(node, layerName)));
}

function parseKeras2Call(node: Json, layerName: string): InboundCall {
  if (!Array.isArray(node)) throw new ConfigError(`layer '${layerName}' has an inbound node that is not a list`);
  const call: InboundCall = { inputs: [], kwargs: {}, constantArgs: [] };
  for (const entry of node) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') {
      throw new ConfigError(`layer '${layerName}' has an inbound entry ${JSON.stringify(entry)} that is not [layer, node, tensor, kwargs]`);
    }
    call.inputs.push({ layer: entry[0], node: numberOr(entry[1] ?? null, 0), tensor: numberOr(entry[2] ?? null, 0) });
    const kwargs = entry[3];
    if (isJsonObject(kwargs)) Object.assign(call.kwargs, activeValues(kwargs));
  }
  return call;
}

function parseKeras3Call(node: JsonObject): InboundCall {
  const call: InboundCall = { inputs: [], kwargs: {}, constantArgs: [] };
  collectKeras3Args(node.args ?? [], call);
  if (isJsonObject(node.kwargs)) {
    for (const [key, value] of Object.entries(activeValues(node.kwargs))) {
      const tensors: InboundCall = { inputs: [], kwargs: {}, constantArgs: [] };
      collectKeras3Args(value, tensors);
      // A tensor passed by keyword (a mask, for example) is a second input this converter does not wire.
      call.kwargs[key] = tensors.inputs.length > 0 ? '<tensor>' : value;
    }
  }
  return call;
}

function collectKeras3Args(value: Json, call: InboundCall): void {
  if (Array.isArray(value)) {
    value.forEach((item) => collectKeras3Args(item, call));
    return;
  }
  if (isJsonObject(value) && value.class_name === '__keras_tensor__') {
    const config = isJsonObject(value.config) ? value.config : {};
    const history = config.keras_history;
    if (!Array.isArray(history) || typeof history[0] !== 'string') {
      throw new ConfigError(`a Keras tensor in the config has no keras_history`);
    }
    call.inputs.push({ layer: history[0], node: numberOr(history[1] ?? null, 0), tensor: numberOr(history[2] ?? null, 0) });
    return;
  }
  if (value !== null) call.constantArgs.push(value);
}

/**
 * Reads `input_layers` / `output_layers`: a list of [name, node, tensor] triples, a
 * single triple (Keras 3 writes one this way for a single-input model), or a dict
 * of triples (Keras 3 dict inputs).
 */
function parseRefList(value: Json | undefined, field: string): TensorRef[] {
  if (value === undefined || value === null) throw new ConfigError(`a Functional model has no ${field}`);
  if (Array.isArray(value) && typeof value[0] === 'string') return [toRef(value, field)];
  const refs: TensorRef[] = [];
  const visit = (item: Json): void => {
    if (Array.isArray(item) && typeof item[0] === 'string') refs.push(toRef(item, field));
    else if (Array.isArray(item)) item.forEach(visit);
    else if (isJsonObject(item)) Object.values(item).forEach(visit);
  };
  visit(value);
  return refs;
}

function toRef(triple: Json[], field: string): TensorRef {
  const [layer, node, tensor] = triple;
  if (typeof layer !== 'string') throw new ConfigError(`${field} has an entry without a layer name`);
  return { layer, node: numberOr(node ?? null, 0), tensor: numberOr(tensor ?? null, 0) };
}

/** Reads a shape list such as [null, 28, 28, 3]; returns null when the value is not one. */
export function parseShape(value: Json): (number | null)[] | null {
  if (!Array.isArray(value)) return null;
  const dims: (number | null)[] = [];
  for (const dim of value) {
    if (dim === null) dims.push(null);
    else if (typeof dim === 'number' && Number.isInteger(dim) && dim >= 0) dims.push(dim);
    else return null;
  }
  return dims;
}

/** Drops keyword values that mean "off" (null, false), such as `training: false` or `mask: null`. */
function activeValues(object: JsonObject): JsonObject {
  const result: JsonObject = {};
  for (const [key, value] of Object.entries(object)) {
    if (value !== null && value !== false) result[key] = value;
  }
  return result;
}

function stringField(object: JsonObject, key: string): string {
  const value = object[key];
  if (typeof value !== 'string') throw new ConfigError(`an entry of model_config has no ${key}`);
  return value;
}

function numberOr(value: Json, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

function describeName(entry: JsonObject, config: JsonObject): string {
  if (typeof config.name === 'string') return config.name;
  if (typeof entry.name === 'string') return entry.name;
  return String(entry.class_name);
}
