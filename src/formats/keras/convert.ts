/**
 * Converts a Keras HDF5 model file to an ONNX graph, and caches the result by the
 * file's sha256 so a second load of the same file skips conversion.
 */
import { OnnxGraphBuilder } from '../onnx-builder.js';
import type { ConvertedModel, ModelFormat } from '../types.js';
import { CascadeError } from '../../shared/errors.js';
import { ConfigError, parseModelConfig, type ModelSpec } from './config.js';
import { ConversionContext } from './context.js';
import { convertTopLevelModel } from './model.js';
import { hasHdf5Signature, openHdf5, type Hdf5Reader } from './hdf5.js';
import { WeightStore } from './weights.js';
import { readCachedModel, sha256File, writeCachedModel } from './cache.js';

export interface KerasConvertOptions {
  /** Folder for converted graphs (`<cacheDir>/onnx/<sha256>.onnx` and `.json`); no caching when absent. */
  cacheDir?: string;
}

/** Converts a Keras .h5 file, or reads the result from the cache when `cacheDir` contains a conversion of the same bytes. */
export async function convertKerasFile(path: string, options: KerasConvertOptions = {}): Promise<ConvertedModel> {
  if (options.cacheDir === undefined) return convertKerasFileUncached(path);
  const sha256 = await sha256File(path);
  const cached = await readCachedModel(options.cacheDir, sha256);
  if (cached !== null) return cached;
  const converted = await convertKerasFileUncached(path);
  await writeCachedModel(options.cacheDir, sha256, converted);
  return converted;
}

/** Creates the Keras ModelFormat; give `cacheDir` to cache conversions. */
export function createKerasFormat(options: KerasConvertOptions = {}): ModelFormat {
  return {
    name: 'keras',
    matches: hasHdf5Signature,
    convert: (path: string) => convertKerasFile(path, options),
  };
}

/** The Keras format without a cache. */
export const kerasFormat: ModelFormat = createKerasFormat();

async function convertKerasFileUncached(path: string): Promise<ConvertedModel> {
  const reader = await openHdf5(path);
  try {
    return convertOpenFile(reader);
  } finally {
    reader.close();
  }
}

function convertOpenFile(reader: Hdf5Reader): ConvertedModel {
  const file = reader.path;
  const configText = reader.readString('/', 'model_config');
  if (configText === null) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${file}: the HDF5 file has no model_config attribute, so it contains weights only (model.save_weights) or is not a Keras model; save the whole model with model.save('model.h5')`, { file });
  }
  if (!reader.hasGroup('model_weights')) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${file}: the HDF5 file has a model_config but no model_weights group; save the whole model with model.save('model.h5')`, { file });
  }

  const model = parseConfig(file, configText);
  const kerasVersion = reader.readString('/', 'keras_version');
  const backend = reader.readString('/', 'backend');
  const kerasMajor = kerasMajorVersion(kerasVersion, configText);
  const graph = new OnnxGraphBuilder({ graphName: model.name, producerName: 'cascade-keras', docString: `converted from ${file}` });
  const context = new ConversionContext({ graph, file, kerasMajor, weights: new WeightStore(reader) });
  const { input, output } = convertTopLevelModel(context, model);

  const versionText = kerasVersion === null ? `Keras ${kerasMajor} (version not recorded)` : `Keras ${kerasVersion}`;
  return {
    onnx: graph.toBytes(),
    inputShape: [...input.shape],
    outputShape: [...output.shape],
    layout: 'nhwc',
    hints: {
      height: input.shape.length === 4 ? input.shape[1] ?? null : null,
      width: input.shape.length === 4 ? input.shape[2] ?? null : null,
      rescalesInGraph: context.hints.rescalesInGraph,
      resizesInGraph: context.hints.resizesInGraph,
    },
    layers: context.report,
    description: `${versionText}${backend === null ? '' : ` (${backend} backend)`}, ${model.className} '${model.name}', ${context.report.length} layers`,
  };
}

function parseConfig(file: string, text: string): ModelSpec {
  try {
    return parseModelConfig(text);
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new CascadeError('MODEL_LOAD_FAILED', `${file}: ${error.message}; the model_config is not a model Cascade can read`, { file }, { cause: error });
    }
    throw error;
  }
}

/**
 * Reads the Keras major version from `keras_version` ("2.12.0", "3.9.1"). For files
 * without it, Keras 3's config style (`batch_shape`, `registered_name`) decides.
 */
function kerasMajorVersion(version: string | null, configText: string): number {
  const major = version === null ? Number.NaN : Number.parseInt(version, 10);
  if (Number.isInteger(major)) return major;
  return configText.includes('"registered_name"') || configText.includes('"batch_shape"') ? 3 : 2;
}
