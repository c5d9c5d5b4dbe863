/**
 * ONNX networks with seeded random weights, for the example cluster and benchmarks.
 * Their outputs carry no medical meaning. They exercise the serving path (sizes, layers,
 * cost per image) with a network of a realistic shape.
 */
import { attr, OnnxGraphBuilder } from '../../src/formats/onnx-builder.js';

/** Deterministic PRNG (mulberry32), so a given seed always builds the same file. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** He-style uniform initialization: keeps activations of deep ReLU stacks in range. */
function heUniform(random: () => number, count: number, fanIn: number): Float32Array {
  const limit = Math.sqrt(6 / fanIn);
  const values = new Float32Array(count);
  for (let index = 0; index < count; index += 1) values[index] = (random() * 2 - 1) * limit;
  return values;
}

class NetworkWriter {
  readonly builder: OnnxGraphBuilder;
  parameters = 0;

  constructor(
    name: string,
    private readonly random: () => number,
  ) {
    this.builder = new OnnxGraphBuilder({ graphName: name, producerName: 'cascade-synthetic' });
  }

  /** Conv with bias (batch normalization folded in, as an exported network has it), then ReLU6. */
  conv(input: string, inChannels: number, outChannels: number, kernel: number, stride: number, groups: number, activation: boolean): string {
    const fanIn = (inChannels / groups) * kernel * kernel;
    const weightCount = outChannels * fanIn;
    const weight = this.builder.addInitializer('conv_w', heUniform(this.random, weightCount, fanIn), [outChannels, inChannels / groups, kernel, kernel]);
    const bias = this.builder.addFloats('conv_b', new Float32Array(outChannels), [outChannels]);
    this.parameters += weightCount + outChannels;
    const pad = Math.floor(kernel / 2);
    const output = this.builder.addOp('Conv', [input, weight, bias], {
      kernel_shape: attr.ints([kernel, kernel]),
      strides: attr.ints([stride, stride]),
      pads: attr.ints([pad, pad, pad, pad]),
      group: attr.int(groups),
    });
    if (!activation) return output;
    const low = this.builder.addFloats('relu6_min', [0], []);
    const high = this.builder.addFloats('relu6_max', [6], []);
    return this.builder.addOp('Clip', [output, low, high]);
  }

  dense(input: string, inFeatures: number, outFeatures: number): string {
    const weight = this.builder.addInitializer('dense_w', heUniform(this.random, inFeatures * outFeatures, inFeatures), [inFeatures, outFeatures]);
    const bias = this.builder.addFloats('dense_b', new Float32Array(outFeatures), [outFeatures]);
    this.parameters += inFeatures * outFeatures + outFeatures;
    return this.builder.addOp('Add', [this.builder.addOp('MatMul', [input, weight]), bias]);
  }

  classifierHead(input: string, channels: number, classes: number, logitScale: number): void {
    const pooled = this.builder.addOp('GlobalAveragePool', [input]);
    const flat = this.builder.addOp('Flatten', [pooled], { axis: attr.int(1) });
    this.softmaxOutput(flat, channels, classes, logitScale);
  }

  hiddenThenClassifier(input: string, channels: number, hidden: number, classes: number, logitScale: number): void {
    const pooled = this.builder.addOp('GlobalAveragePool', [input]);
    const flat = this.builder.addOp('Flatten', [pooled], { axis: attr.int(1) });
    const features = this.builder.addOp('Relu', [this.dense(flat, channels, hidden)]);
    this.softmaxOutput(features, hidden, classes, logitScale);
  }

  private softmaxOutput(flat: string, channels: number, classes: number, logitScale: number): void {
    // Scaling the logits keeps the softmax of an untrained network from saturating at 1.0.
    const logits = this.dense(flat, channels, classes);
    const scale = this.builder.addFloats('logit_scale', [logitScale], []);
    const probabilities = this.builder.addOp('Softmax', [this.builder.addOp('Mul', [logits, scale])], { axis: attr.int(-1) }, 'probabilities');
    this.builder.addOutput(probabilities, [1, classes]);
  }
}

export interface SyntheticModel {
  onnx: Uint8Array;
  parameters: number;
}

/**
 * MobileNetV2 (width 1.0) at 224x224, NCHW input [1, 3, 224, 224]: the same layers and
 * about the same parameter count (3.5 million with 1000 classes) as the published network.
 */
export function buildMobileNetV2(classes: number, seed: number): SyntheticModel {
  const writer = new NetworkWriter('mobilenetv2_synthetic', createRandom(seed));
  const input = writer.builder.addInput('image', [1, 3, 224, 224]);
  let x = writer.conv(input, 3, 32, 3, 2, 1, true);
  let channels = 32;
  const stages: [number, number, number, number][] = [
    [1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1],
  ];
  for (const [expansion, outChannels, repeats, firstStride] of stages) {
    for (let repeat = 0; repeat < repeats; repeat += 1) {
      const stride = repeat === 0 ? firstStride : 1;
      x = invertedResidual(writer, x, channels, outChannels, expansion, stride);
      channels = outChannels;
    }
  }
  x = writer.conv(x, channels, 1280, 1, 1, 1, true);
  if (classes >= 1000) {
    writer.classifierHead(x, 1280, classes, 0.05);
  } else {
    // Published MobileNetV2 has 1000 classes. A 1000-unit hidden layer keeps its parameter
    // count, and so its cost per image, when fewer classes are requested.
    writer.hiddenThenClassifier(x, 1280, 1000, classes, 0.05);
  }
  return { onnx: writer.builder.toBytes(), parameters: writer.parameters };
}

function invertedResidual(writer: NetworkWriter, input: string, inChannels: number, outChannels: number, expansion: number, stride: number): string {
  const hidden = inChannels * expansion;
  let x = input;
  if (expansion !== 1) x = writer.conv(x, inChannels, hidden, 1, 1, 1, true);
  x = writer.conv(x, hidden, hidden, 3, stride, hidden, true);
  x = writer.conv(x, hidden, outChannels, 1, 1, 1, false);
  if (stride === 1 && inChannels === outChannels) x = writer.builder.addOp('Add', [input, x]);
  return x;
}

/** Builds a small CNN at 64x64 (NCHW input [1, 3, 64, 64]) for demonstration second models. */
export function buildSmallCnn(classes: number, seed: number): SyntheticModel {
  const writer = new NetworkWriter('small_cnn_synthetic', createRandom(seed));
  const input = writer.builder.addInput('image', [1, 3, 64, 64]);
  let x = writer.conv(input, 3, 16, 3, 2, 1, true);
  x = writer.conv(x, 16, 32, 3, 2, 1, true);
  x = writer.conv(x, 32, 64, 3, 2, 1, true);
  writer.classifierHead(x, 64, classes, 1);
  return { onnx: writer.builder.toBytes(), parameters: writer.parameters };
}
