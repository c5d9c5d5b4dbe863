/**
 * A MobileNetV2-shaped Keras network (width 1.0, 224x224, 1000 classes, about 3.5 million
 * parameters) with seeded random weights. It is described twice. The Keras model
 * definition feeds the test helper that writes .h5 files, and a chain of the naive
 * reference layer implementations evaluates the same network in pure JavaScript.
 */
import type { LayerDef, ModelDef } from '../test/support/keras-h5.js';
import * as ref from '../test/support/reference-ops.js';
import type { Tensor } from '../test/support/reference-ops.js';

export const MOBILENET_INPUT_SIZE = 224;
const BATCH_NORM_EPSILON = 1e-3;

/** Expansion factor, output channels, repeats and first stride of each MobileNetV2 stage. */
const STAGES: [number, number, number, number][] = [
  [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
];

export interface KerasNetwork {
  model: ModelDef;
  parameters: number;
  /** Runs the network on an NHWC input with the reference ops, in double precision. */
  evaluate: (input: Tensor) => Tensor;
}

type Step = (values: Map<string, Tensor>) => void;

/** Records each layer as a Keras layer definition and as a reference-op step. */
class NetworkBuilder {
  readonly layers: LayerDef[] = [];
  readonly steps: Step[] = [];
  parameters = 0;
  private seed: number;
  private counter = 0;

  constructor(seed: number) {
    this.seed = seed;
  }

  conv(input: string, inChannels: number, filters: number, kernel: number, stride: number): string {
    const weight = this.heUniform([kernel, kernel, inChannels, filters], kernel * kernel * inChannels);
    const options: ref.ConvOptions = { strides: [stride, stride], padding: 'same' };
    const config = { filters, kernel_size: [kernel, kernel], strides: [stride, stride], padding: 'same', use_bias: false, activation: 'linear' };
    return this.add('Conv2D', 'conv', input, config, [['kernel', weight]], (x) => ref.conv2d(x, weight, null, options));
  }

  depthwise(input: string, channels: number, stride: number): string {
    const weight = this.heUniform([3, 3, channels, 1], 9);
    const options: ref.ConvOptions = { strides: [stride, stride], padding: 'same' };
    const config = { kernel_size: [3, 3], strides: [stride, stride], padding: 'same', depth_multiplier: 1, use_bias: false, activation: 'linear' };
    return this.add('DepthwiseConv2D', 'depthwise', input, config, [['depthwise_kernel', weight]], (x) => ref.depthwiseConv2d(x, weight, null, options));
  }

  batchNorm(input: string, channels: number): string {
    const stats = {
      gamma: this.uniform([channels], 0.8, 1.2),
      beta: this.uniform([channels], -0.1, 0.1),
      mean: this.uniform([channels], -0.1, 0.1),
      variance: this.uniform([channels], 0.5, 1.5),
      epsilon: BATCH_NORM_EPSILON,
    };
    const weights: Array<[string, Tensor]> = [['gamma', stats.gamma], ['beta', stats.beta], ['moving_mean', stats.mean], ['moving_variance', stats.variance]];
    return this.add('BatchNormalization', 'bn', input, { axis: -1, epsilon: BATCH_NORM_EPSILON, center: true, scale: true }, weights, (x) => ref.batchNorm(x, 3, stats));
  }

  relu6(input: string): string {
    return this.add('ReLU', 'relu6', input, { max_value: 6, negative_slope: 0, threshold: 0 }, [], (x) => ref.map(x, (value) => ref.kerasRelu(value, { maxValue: 6 })));
  }

  residual(left: string, right: string): string {
    const name = this.nextName('add');
    this.layers.push({ className: 'Add', name, config: {}, calls: [[left, right]] });
    this.steps.push((values) => values.set(name, ref.broadcastBinary(this.take(values, left), this.take(values, right), (a, b) => a + b)));
    return name;
  }

  globalAveragePool(input: string): string {
    return this.add('GlobalAveragePooling2D', 'pool', input, { keepdims: false }, [], (x) => ref.globalPool2d(x, 'average'));
  }

  denseSoftmax(input: string, inFeatures: number, units: number): string {
    const kernel = this.heUniform([inFeatures, units], inFeatures);
    const bias = this.uniform([units], -0.1, 0.1);
    const config = { units, activation: 'softmax', use_bias: true };
    return this.add('Dense', 'predictions', input, config, [['kernel', kernel], ['bias', bias]], (x) => ref.softmax(ref.dense(x, kernel, bias)));
  }

  private add(className: string, prefix: string, input: string, config: LayerDef['config'], weights: Array<[string, Tensor]>, compute: (x: Tensor) => Tensor): string {
    const name = this.nextName(prefix);
    this.layers.push({ className, name, config: config ?? {}, weights, calls: [[input]] });
    this.parameters += weights.reduce((sum, [, weight]) => sum + weight.data.length, 0);
    this.steps.push((values) => values.set(name, compute(this.take(values, input))));
    return name;
  }

  private take(values: Map<string, Tensor>, name: string): Tensor {
    const value = values.get(name);
    if (value === undefined) throw new Error(`layer ${name} has not been evaluated yet`);
    return value;
  }

  private nextName(prefix: string): string {
    this.counter += 1;
    return `${prefix}_${this.counter}`;
  }

  /** Draws He-style uniform weights, which keep activations of a deep ReLU stack in range. */
  private heUniform(shape: number[], fanIn: number): Tensor {
    const limit = Math.sqrt(6 / fanIn);
    return this.uniform(shape, -limit, limit);
  }

  private uniform(shape: number[], low: number, high: number): Tensor {
    this.seed += 1;
    return ref.randomTensor(shape, this.seed, low, high);
  }
}

/** Builds the network; the same `seed` always gives the same weights. */
export function buildKerasMobileNetV2(classes: number, seed: number): KerasNetwork {
  const builder = new NetworkBuilder(seed);
  const inputName = 'image';
  let x = builder.relu6(builder.batchNorm(builder.conv(inputName, 3, 32, 3, 2), 32));
  let channels = 32;
  for (const [expansion, outChannels, repeats, firstStride] of STAGES) {
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      x = invertedResidual(builder, x, channels, outChannels, expansion, repeat === 0 ? firstStride : 1);
      channels = outChannels;
    }
  }
  x = builder.relu6(builder.batchNorm(builder.conv(x, channels, 1280, 1, 1), 1280));
  const output = builder.denseSoftmax(builder.globalAveragePool(x), 1280, classes);

  const model: ModelDef = {
    kind: 'functional',
    name: 'mobilenetv2_bench',
    inputShape: [MOBILENET_INPUT_SIZE, MOBILENET_INPUT_SIZE, 3],
    inputName,
    layers: builder.layers,
    output,
  };
  const evaluate = (input: Tensor): Tensor => {
    const values = new Map<string, Tensor>([[inputName, input]]);
    for (const step of builder.steps) step(values);
    const result = values.get(output);
    if (result === undefined) throw new Error(`the network produced no output ${output}`);
    return result;
  };
  return { model, parameters: builder.parameters, evaluate };
}

/** Expand (1x1), depthwise 3x3, project (1x1), with a skip connection when shapes match. */
function invertedResidual(builder: NetworkBuilder, input: string, inChannels: number, outChannels: number, expansion: number, stride: number): string {
  const hidden = inChannels * expansion;
  let x = input;
  if (expansion !== 1) x = builder.relu6(builder.batchNorm(builder.conv(x, inChannels, hidden, 1, 1), hidden));
  x = builder.relu6(builder.batchNorm(builder.depthwise(x, hidden, stride), hidden));
  x = builder.batchNorm(builder.conv(x, hidden, outChannels, 1, 1), outChannels);
  if (stride === 1 && inChannels === outChannels) x = builder.residual(input, x);
  return x;
}
