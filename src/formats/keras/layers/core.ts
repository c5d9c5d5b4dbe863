/** Dense, Flatten, Reshape and the layers that are identities at inference (Dropout and friends). */
import { CascadeError } from '../../../shared/errors.js';
import { attr } from '../../onnx-builder.js';
import { formatShape, unsupported } from '../context.js';
import { activationName, applyActivation } from './activations.js';
import { channelCount, elementCount, produced, singleInput, type LayerCall, type LayerResult } from './types.js';

/** Dense multiplies along the last axis; 4-D inputs are put in Keras (NHWC) order first. */
export function convertDense(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const units = call.options.int('units');
  const useBias = call.options.boolean('use_bias', true);
  const activation = activationName(call.context, call.layer, call.options.raw('activation'));
  const inFeatures = channelCount(call, input);
  const kernel = call.weights.require(['kernel'], [inFeatures, units]);
  const { context } = call;
  const weight = context.cachedFloats(`${call.baseName}/kernel`, `${call.baseName}/kernel`, () => ({ data: kernel.data, dims: [inFeatures, units] }));
  const bias = useBias ? call.weights.require(['bias'], [units]) : null;
  const biasName = bias === null ? null : context.cachedFloats(`${call.baseName}/bias`, `${call.baseName}/bias`, () => ({ data: bias.data, dims: [units] }));
  const x = context.toNhwc(input);
  let output: string;
  let handling: string;
  if (input.shape.length === 2) {
    const inputs = biasName === null ? [x, weight] : [x, weight, biasName];
    output = context.graph.addOp('Gemm', inputs, {}, call.baseName);
    handling = 'Gemm';
  } else {
    const product = context.graph.addOp('MatMul', [x, weight], {}, biasName === null ? call.baseName : `${call.baseName}_matmul`);
    output = biasName === null ? product : context.graph.addOp('Add', [product, biasName], {}, call.baseName);
    handling = `MatMul on the last axis of a ${input.shape.length}-D input`;
  }
  const result = produced(output, [...input.shape.slice(0, -1), units], 'nhwc');
  const activated = applyActivation(context, call.layer, result, activation, call.baseName);
  return { output: activated, handling: activation === null ? handling : `${handling} + ${activation}` };
}

/** Flatten in Keras order (height, width, channels), which the next Dense layer's weights expect. */
export function convertFlatten(call: LayerCall): LayerResult {
  const input = singleInput(call);
  call.options.channelsLast();
  const features = elementCount(input.shape.slice(1));
  if (input.shape.length === 2) return { output: input, handling: 'identity (already 2-D)' };
  const output = call.context.graph.addOp('Flatten', [call.context.toNhwc(input)], { axis: attr.int(1) }, call.baseName);
  const handling = input.layout === 'nchw' ? 'Transpose to NHWC + Flatten' : 'Flatten';
  return { output: produced(output, [input.shape[0] ?? null, features]), handling };
}

export function convertReshape(call: LayerCall): LayerResult {
  const input = singleInput(call);
  const raw = call.options.raw('target_shape');
  if (!Array.isArray(raw) || !raw.every((dim) => typeof dim === 'number' && Number.isInteger(dim))) {
    throw unsupported(call.context, call.layer, 'option target_shape', raw ?? null);
  }
  const target = raw.map(Number);
  const shape = reshapeTarget(call, input.shape.slice(1), target);
  // Batch: copy the input's first dimension (0 in ONNX Reshape) so a free batch size stays free.
  const shapeName = call.context.ints([0, ...target]);
  const output = call.context.graph.addOp('Reshape', [call.context.toNhwc(input), shapeName], {}, call.baseName);
  return { output: produced(output, [input.shape[0] ?? null, ...shape]), handling: `Reshape to ${formatShape([null, ...shape])}` };
}

function reshapeTarget(call: LayerCall, inputDims: readonly (number | null)[], target: number[]): (number | null)[] {
  const total = elementCount(inputDims);
  const known = target.filter((dim) => dim !== -1).reduce((product, dim) => product * dim, 1);
  const free = target.filter((dim) => dim === -1).length;
  if (target.some((dim) => dim === 0 || dim < -1) || free > 1 || (total !== null && (free === 0 ? known !== total : total % known !== 0))) {
    throw new CascadeError('MODEL_LOAD_FAILED', `${call.context.file}: Reshape '${call.layer.name}' cannot reshape ${formatShape([null, ...inputDims])} to ${formatShape([null, ...target])}; the model_config is inconsistent`, {
      file: call.context.file,
      layer: call.layer.name,
    });
  }
  const inferred = total === null ? null : total / known;
  return target.map((dim) => (dim === -1 ? inferred : dim));
}

/** Layers that only act while training: Dropout and the noise layers. */
export function convertInferenceIdentity(call: LayerCall): LayerResult {
  const input = singleInput(call);
  call.options.ignore('rate', 'noise_shape', 'seed', 'stddev', 'mean');
  return { output: input, handling: 'identity at inference' };
}
