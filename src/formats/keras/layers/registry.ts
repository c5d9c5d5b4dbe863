/** Keras layer class name → converter. A class missing here fails with MODEL_LAYER_UNSUPPORTED. */
import {
  convertActivation,
  convertElu,
  convertLeakyRelu,
  convertRelu,
  convertSoftmax,
} from './activations.js';
import { convertConv2D, convertDepthwiseConv2D, convertSeparableConv2D } from './convolution.js';
import { convertDense, convertFlatten, convertInferenceIdentity, convertReshape } from './core.js';
import { convertResizing, convertZeroPadding2D } from './image.js';
import {
  convertAdd,
  convertAverage,
  convertConcatenate,
  convertMaximum,
  convertMinimum,
  convertMultiply,
  convertSubtract,
} from './merge.js';
import { convertBatchNormalization, convertNormalization, convertRescaling } from './normalization.js';
import {
  convertAveragePooling2D,
  convertGlobalAveragePooling2D,
  convertGlobalMaxPooling2D,
  convertMaxPooling2D,
} from './pooling.js';
import type { LayerConverter } from './types.js';

export const LAYER_CONVERTERS: ReadonlyMap<string, LayerConverter> = new Map<string, LayerConverter>([
  ['Conv2D', convertConv2D],
  ['Convolution2D', convertConv2D],
  ['DepthwiseConv2D', convertDepthwiseConv2D],
  ['SeparableConv2D', convertSeparableConv2D],
  ['SeparableConvolution2D', convertSeparableConv2D],
  ['MaxPooling2D', convertMaxPooling2D],
  ['MaxPool2D', convertMaxPooling2D],
  ['AveragePooling2D', convertAveragePooling2D],
  ['AvgPool2D', convertAveragePooling2D],
  ['GlobalMaxPooling2D', convertGlobalMaxPooling2D],
  ['GlobalMaxPool2D', convertGlobalMaxPooling2D],
  ['GlobalAveragePooling2D', convertGlobalAveragePooling2D],
  ['GlobalAvgPool2D', convertGlobalAveragePooling2D],
  ['Dense', convertDense],
  ['Flatten', convertFlatten],
  ['Reshape', convertReshape],
  ['Dropout', convertInferenceIdentity],
  ['SpatialDropout2D', convertInferenceIdentity],
  ['GaussianDropout', convertInferenceIdentity],
  ['GaussianNoise', convertInferenceIdentity],
  ['AlphaDropout', convertInferenceIdentity],
  ['Activation', convertActivation],
  ['ReLU', convertRelu],
  ['LeakyReLU', convertLeakyRelu],
  ['ELU', convertElu],
  ['Softmax', convertSoftmax],
  ['BatchNormalization', convertBatchNormalization],
  ['Normalization', convertNormalization],
  ['Rescaling', convertRescaling],
  ['ZeroPadding2D', convertZeroPadding2D],
  ['Resizing', convertResizing],
  ['Add', convertAdd],
  ['Subtract', convertSubtract],
  ['Multiply', convertMultiply],
  ['Average', convertAverage],
  ['Maximum', convertMaximum],
  ['Minimum', convertMinimum],
  ['Concatenate', convertConcatenate],
]);

export function supportedLayerClasses(): string[] {
  return [...LAYER_CONVERTERS.keys()].sort();
}
