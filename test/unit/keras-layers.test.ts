/**
 * Each supported Keras layer, converted from a small generated .h5 file and run in
 * ONNX Runtime, against the naive reference ops within 1e-4. Most cases run in both
 * config styles (Keras 2 and Keras 3).
 */
import { after, before, describe, test } from 'node:test';
import type { KerasStyle, LayerDef, ModelDef } from '../support/keras-h5.js';
import { assertClose, convertAndRun, temporaryFolder } from '../support/keras-run.js';
import * as ref from '../support/reference-ops.js';

const STYLES: KerasStyle[] = ['keras2', 'keras3'];

let folder: { path: string; remove: () => Promise<void> };
before(async () => {
  folder = await temporaryFolder('keras-layers');
});
after(async () => {
  await folder.remove();
});

let seed = 1;
function random(shape: number[], low = -1, high = 1): ref.Tensor {
  seed += 1;
  return ref.randomTensor(shape, seed, low, high);
}

function sequential(name: string, inputShape: number[], layers: LayerDef[]): ModelDef {
  return { kind: 'sequential', name, inputShape, layers };
}

async function check(style: KerasStyle, model: ModelDef, input: ref.Tensor, expected: ref.Tensor): Promise<void> {
  const { output } = await convertAndRun(folder.path, model, style, input);
  assertClose(output, expected);
}

interface ConvCase {
  title: string;
  input: number[];
  kernel: [number, number];
  filters: number;
  strides?: [number, number];
  dilation?: [number, number];
  padding: 'valid' | 'same';
  groups?: number;
  useBias?: boolean;
  activation?: string;
}

const CONV_CASES: ConvCase[] = [
  { title: 'valid 3x3 with bias and relu', input: [2, 7, 6, 3], kernel: [3, 3], filters: 4, padding: 'valid', activation: 'relu' },
  { title: "'same' 3x3 stride 2 on even size (asymmetric pads)", input: [1, 8, 8, 2], kernel: [3, 3], filters: 3, strides: [2, 2], padding: 'same' },
  { title: "'same' 4x4 stride 1 (pads 1 before, 2 after)", input: [1, 6, 5, 2], kernel: [4, 4], filters: 2, padding: 'same' },
  { title: "'same' dilation 2", input: [1, 9, 9, 2], kernel: [3, 3], filters: 2, dilation: [2, 2], padding: 'same' },
  { title: 'rectangular kernel and strides', input: [1, 9, 8, 3], kernel: [1, 3], filters: 5, strides: [2, 1], padding: 'valid' },
  { title: 'groups 2 without bias', input: [1, 5, 5, 4], kernel: [3, 3], filters: 6, padding: 'same', groups: 2, useBias: false },
];

describe('Conv2D', () => {
  for (const style of STYLES) {
    for (const testCase of CONV_CASES) {
      test(`${testCase.title} (${style})`, async () => {
        const groups = testCase.groups ?? 1;
        const input = random(testCase.input);
        const kernel = random([...testCase.kernel, (testCase.input[3] ?? 1) / groups, testCase.filters], -0.5, 0.5);
        const bias = testCase.useBias === false ? null : random([testCase.filters]);
        const weights: Array<[string, ref.Tensor]> = bias === null ? [['kernel', kernel]] : [['kernel', kernel], ['bias', bias]];
        const layer: LayerDef = {
          className: 'Conv2D',
          name: 'conv',
          config: {
            filters: testCase.filters,
            kernel_size: testCase.kernel,
            strides: testCase.strides ?? [1, 1],
            padding: testCase.padding,
            data_format: 'channels_last',
            dilation_rate: testCase.dilation ?? [1, 1],
            groups,
            activation: testCase.activation ?? 'linear',
            use_bias: bias !== null,
          },
          weights,
        };
        let expected = ref.conv2d(input, kernel, bias, { strides: testCase.strides, dilation: testCase.dilation, padding: testCase.padding, groups });
        if (testCase.activation !== undefined) expected = ref.map(expected, ref.activation(testCase.activation));
        await check(style, sequential('conv_model', testCase.input.slice(1), [layer]), input, expected);
      });
    }
  }
});

describe('DepthwiseConv2D and SeparableConv2D', () => {
  for (const style of STYLES) {
    test(`DepthwiseConv2D multiplier 2, 'same', stride 2 (${style})`, async () => {
      const input = random([2, 7, 8, 3]);
      const kernel = random([3, 3, 3, 2]);
      const bias = random([6]);
      const layer: LayerDef = {
        className: 'DepthwiseConv2D',
        name: 'depthwise',
        config: { kernel_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], groups: 1, activation: 'relu6', use_bias: true, depth_multiplier: 2 },
        // Keras 2 names the kernel depthwise_kernel, Keras 3 names it kernel.
        weights: [[style === 'keras2' ? 'depthwise_kernel' : 'kernel', kernel], ['bias', bias]],
      };
      const expected = ref.map(ref.depthwiseConv2d(input, kernel, bias, { strides: [2, 2], padding: 'same' }), ref.activation('relu6'));
      await check(style, sequential('depthwise_model', [7, 8, 3], [layer]), input, expected);
    });

    test(`DepthwiseConv2D valid with dilation (${style})`, async () => {
      const input = random([1, 9, 9, 2]);
      const kernel = random([3, 3, 2, 1]);
      const layer: LayerDef = {
        className: 'DepthwiseConv2D',
        name: 'depthwise',
        config: { kernel_size: 3, strides: 1, padding: 'valid', dilation_rate: 2, activation: 'linear', use_bias: false, depth_multiplier: 1 },
        weights: [[style === 'keras2' ? 'depthwise_kernel' : 'kernel', kernel]],
      };
      const expected = ref.depthwiseConv2d(input, kernel, null, { dilation: [2, 2], padding: 'valid' });
      await check(style, sequential('depthwise_dilated', [9, 9, 2], [layer]), input, expected);
    });

    test(`SeparableConv2D 'same' with bias (${style})`, async () => {
      const input = random([1, 6, 6, 3]);
      const depthwise = random([3, 3, 3, 2]);
      const pointwise = random([1, 1, 6, 4]);
      const bias = random([4]);
      const layer: LayerDef = {
        className: 'SeparableConv2D',
        name: 'separable',
        config: { filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], activation: 'swish', use_bias: true, depth_multiplier: 2 },
        weights: [['depthwise_kernel', depthwise], ['pointwise_kernel', pointwise], ['bias', bias]],
      };
      const expected = ref.map(ref.separableConv2d(input, depthwise, pointwise, bias, { padding: 'same' }), ref.activation('swish'));
      await check(style, sequential('separable_model', [6, 6, 3], [layer]), input, expected);
    });
  }
});

describe('pooling', () => {
  const cases: Array<{ title: string; className: string; kind: 'max' | 'average'; pool: [number, number]; strides: [number, number] | null; padding: 'valid' | 'same'; input: number[] }> = [
    { title: 'MaxPooling2D 2x2 valid, strides from pool size', className: 'MaxPooling2D', kind: 'max', pool: [2, 2], strides: null, padding: 'valid', input: [2, 7, 6, 3] },
    { title: "MaxPooling2D 3x3 stride 2 'same'", className: 'MaxPooling2D', kind: 'max', pool: [3, 3], strides: [2, 2], padding: 'same', input: [1, 8, 7, 2] },
    { title: "AveragePooling2D 3x3 stride 2 'same' (padding not counted)", className: 'AveragePooling2D', kind: 'average', pool: [3, 3], strides: [2, 2], padding: 'same', input: [1, 8, 7, 2] },
    { title: 'AveragePooling2D 2x3 valid', className: 'AveragePooling2D', kind: 'average', pool: [2, 3], strides: [1, 2], padding: 'valid', input: [1, 5, 7, 2] },
  ];
  for (const style of STYLES) {
    for (const testCase of cases) {
      test(`${testCase.title} (${style})`, async () => {
        const input = random(testCase.input);
        const layer: LayerDef = { className: testCase.className, name: 'pool', config: { pool_size: testCase.pool, strides: testCase.strides, padding: testCase.padding, data_format: 'channels_last' } };
        const expected = ref.pool2d(input, testCase.kind, { pool: testCase.pool, strides: testCase.strides ?? undefined, padding: testCase.padding });
        await check(style, sequential('pool_model', testCase.input.slice(1), [layer]), input, expected);
      });
    }
    for (const kind of ['max', 'average'] as const) {
      for (const keepdims of [false, true]) {
        test(`Global${kind === 'max' ? 'Max' : 'Average'}Pooling2D keepdims=${keepdims} after Conv2D (${style})`, async () => {
          const input = random([2, 5, 4, 3]);
          const kernel = random([3, 3, 3, 4]);
          const conv: LayerDef = { className: 'Conv2D', name: 'conv', config: { filters: 4, kernel_size: [3, 3], padding: 'same', use_bias: false, activation: 'linear' }, weights: [['kernel', kernel]] };
          const pool: LayerDef = { className: kind === 'max' ? 'GlobalMaxPooling2D' : 'GlobalAveragePooling2D', name: 'global', config: { data_format: 'channels_last', keepdims } };
          const expected = ref.globalPool2d(ref.conv2d(input, kernel, null, { padding: 'same' }), kind, keepdims);
          await check(style, sequential('global_model', [5, 4, 3], [conv, pool]), input, expected);
        });
      }
    }
  }
});

describe('Dense, Flatten, Reshape, Dropout', () => {
  for (const style of STYLES) {
    test(`Conv2D, Flatten, Dense keep Keras (NHWC) flatten order (${style})`, async () => {
      const input = random([2, 5, 4, 3]);
      const kernel = random([2, 2, 3, 4]);
      const denseKernel = random([4 * 3 * 4, 5], -0.3, 0.3);
      const denseBias = random([5]);
      const layers: LayerDef[] = [
        { className: 'Conv2D', name: 'conv', config: { filters: 4, kernel_size: [2, 2], activation: 'tanh', use_bias: false }, weights: [['kernel', kernel]] },
        { className: 'Flatten', name: 'flatten', config: { data_format: 'channels_last' } },
        { className: 'Dropout', name: 'dropout', config: { rate: 0.5, noise_shape: null, seed: null } },
        { className: 'Dense', name: 'dense', config: { units: 5, activation: 'softmax', use_bias: true }, weights: [['kernel', denseKernel], ['bias', denseBias]] },
      ];
      const hidden = ref.flatten(ref.map(ref.conv2d(input, kernel, null), Math.tanh));
      const expected = ref.softmax(ref.dense(hidden, denseKernel, denseBias));
      await check(style, sequential('flatten_model', [5, 4, 3], layers), input, expected);
    });

    test(`Dense on the last axis of a 4-D input (${style})`, async () => {
      const input = random([2, 3, 3, 2]);
      const kernel = random([1, 1, 2, 4]);
      const denseKernel = random([4, 3]);
      const layers: LayerDef[] = [
        { className: 'Conv2D', name: 'conv', config: { filters: 4, kernel_size: 1, use_bias: false }, weights: [['kernel', kernel]] },
        { className: 'Dense', name: 'dense', config: { units: 3, activation: 'linear', use_bias: false }, weights: [['kernel', denseKernel]] },
      ];
      const expected = ref.dense(ref.conv2d(input, kernel, null), denseKernel, null);
      await check(style, sequential('dense4d_model', [3, 3, 2], layers), input, expected);
    });

    test(`Reshape after Conv2D with a -1 dimension (${style})`, async () => {
      const input = random([2, 4, 4, 2]);
      const kernel = random([1, 1, 2, 3]);
      const denseKernel = random([6, 2]);
      const layers: LayerDef[] = [
        { className: 'Conv2D', name: 'conv', config: { filters: 3, kernel_size: [1, 1], use_bias: false }, weights: [['kernel', kernel]] },
        { className: 'Reshape', name: 'reshape', config: { target_shape: [-1, 6] } },
        { className: 'Dense', name: 'dense', config: { units: 2, use_bias: false }, weights: [['kernel', denseKernel]] },
      ];
      const reshaped = ref.reshape(ref.conv2d(input, kernel, null), [2, 8, 6]);
      await check(style, sequential('reshape_model', [4, 4, 2], layers), input, ref.dense(reshaped, denseKernel, null));
    });
  }
});

describe('activations', () => {
  const names = ['relu', 'relu6', 'sigmoid', 'tanh', 'swish', 'silu', 'hard_sigmoid', 'elu', 'selu', 'softplus', 'softsign', 'exponential', 'gelu', 'mish', 'linear'];
  for (const style of STYLES) {
    const major = style === 'keras2' ? 2 : 3;
    for (const name of names) {
      test(`Activation ${name} (${style})`, async () => {
        const input = random([2, 3, 4, 5], -4, 4);
        const layer: LayerDef = { className: 'Activation', name: 'act', config: { activation: name } };
        await check(style, sequential('activation_model', [3, 4, 5], [layer]), input, ref.map(input, ref.activation(name, major)));
      });
    }
    test(`Activation softmax on the channel axis of a Conv2D output (${style})`, async () => {
      const input = random([1, 3, 3, 2]);
      const kernel = random([1, 1, 2, 4]);
      const layers: LayerDef[] = [
        { className: 'Conv2D', name: 'conv', config: { filters: 4, kernel_size: 1, use_bias: false }, weights: [['kernel', kernel]] },
        { className: 'Activation', name: 'act', config: { activation: 'softmax' } },
      ];
      await check(style, sequential('softmax_model', [3, 3, 2], layers), input, ref.softmax(ref.conv2d(input, kernel, null)));
    });
  }

  test('hard_sigmoid differs between Keras 2 and Keras 3', async () => {
    const input = ref.tensor([1, 6], [-3, -2.6, -1, 0.5, 2.6, 3]);
    const model = { kind: 'sequential', name: 'hard_model', inputShape: [6], layers: [{ className: 'Activation', name: 'act', config: { activation: 'hard_sigmoid' } }] } satisfies ModelDef;
    await check('keras2', model, input, ref.tensor([1, 6], [0, 0, 0.3, 0.6, 1, 1]));
    await check('keras3', model, input, ref.tensor([1, 6], [0, 0.4 / 6, 2 / 6, 3.5 / 6, 5.6 / 6, 1]));
  });

  test('Keras 3 activation object form and leaky_relu, hard_silu', async () => {
    const input = random([1, 8], -5, 5);
    const model: ModelDef = {
      kind: 'sequential',
      name: 'keras3_activation_objects',
      inputShape: [8],
      layers: [
        { className: 'Activation', name: 'leaky', config: { activation: { module: 'keras.activations', class_name: 'function', config: 'leaky_relu', registered_name: 'function' } } },
        { className: 'Activation', name: 'hard_silu', config: { activation: 'hard_silu' } },
      ],
    };
    const expected = ref.map(ref.map(input, ref.activation('leaky_relu', 3)), ref.activation('hard_silu', 3));
    await check('keras3', model, input, expected);
  });

  const reluCases: Array<{ title: string; config: { max_value: number | null; negative_slope: number; threshold: number } }> = [
    { title: 'max_value 6 (relu6)', config: { max_value: 6, negative_slope: 0, threshold: 0 } },
    { title: 'negative_slope 0.1', config: { max_value: null, negative_slope: 0.1, threshold: 0 } },
    { title: 'threshold 0.5', config: { max_value: null, negative_slope: 0, threshold: 0.5 } },
    { title: 'max 2, slope 0.2, threshold -0.5', config: { max_value: 2, negative_slope: 0.2, threshold: -0.5 } },
    { title: 'max 6, slope 0.1', config: { max_value: 6, negative_slope: 0.1, threshold: 0 } },
    { title: 'max 3.5', config: { max_value: 3.5, negative_slope: 0, threshold: 0 } },
  ];
  for (const style of STYLES) {
    for (const { title, config } of reluCases) {
      test(`ReLU ${title} (${style})`, async () => {
        const input = random([2, 4, 3, 2], -8, 8);
        const layer: LayerDef = { className: 'ReLU', name: 'relu', config };
        const expected = ref.map(input, (x) => ref.kerasRelu(x, { maxValue: config.max_value, slope: config.negative_slope, threshold: config.threshold }));
        await check(style, sequential('relu_model', [4, 3, 2], [layer]), input, expected);
      });
    }
    test(`LeakyReLU (${style})`, async () => {
      const input = random([1, 3, 3, 2], -4, 4);
      // Keras 2 names the slope alpha, Keras 3 negative_slope.
      const slopeKey = style === 'keras2' ? 'alpha' : 'negative_slope';
      const layer: LayerDef = { className: 'LeakyReLU', name: 'leaky', config: { [slopeKey]: 0.25 } };
      await check(style, sequential('leaky_model', [3, 3, 2], [layer]), input, ref.map(input, (x) => (x >= 0 ? x : 0.25 * x)));
    });
    test(`ELU alpha 0.7 and Softmax layer (${style})`, async () => {
      const input = random([2, 6], -3, 3);
      const layers: LayerDef[] = [
        { className: 'ELU', name: 'elu', config: { alpha: 0.7 } },
        { className: 'Softmax', name: 'softmax', config: { axis: -1 } },
      ];
      const expected = ref.softmax(ref.map(input, (x) => (x > 0 ? x : 0.7 * (Math.exp(x) - 1))));
      await check(style, sequential('elu_model', [6], layers), input, expected);
    });
  }
});

describe('BatchNormalization', () => {
  function statistics(channels: number): { gamma: ref.Tensor; beta: ref.Tensor; mean: ref.Tensor; variance: ref.Tensor } {
    return { gamma: random([channels], 0.5, 1.5), beta: random([channels]), mean: random([channels]), variance: random([channels], 0.1, 2) };
  }
  for (const style of STYLES) {
    for (const flags of [{ center: true, scale: true }, { center: false, scale: true }, { center: true, scale: false }]) {
      test(`after Conv2D, center=${flags.center} scale=${flags.scale} (${style})`, async () => {
        const input = random([2, 4, 4, 3]);
        const kernel = random([3, 3, 3, 4]);
        const stats = statistics(4);
        const weights: Array<[string, ref.Tensor]> = [];
        if (flags.scale) weights.push(['gamma', stats.gamma]);
        if (flags.center) weights.push(['beta', stats.beta]);
        weights.push(['moving_mean', stats.mean], ['moving_variance', stats.variance]);
        const layers: LayerDef[] = [
          { className: 'Conv2D', name: 'conv', config: { filters: 4, kernel_size: [3, 3], padding: 'same', use_bias: false }, weights: [['kernel', kernel]] },
          { className: 'BatchNormalization', name: 'bn', config: { axis: style === 'keras2' ? [3] : -1, momentum: 0.99, epsilon: 0.001, ...flags }, weights },
        ];
        const expected = ref.batchNorm(ref.conv2d(input, kernel, null, { padding: 'same' }), -1, {
          gamma: flags.scale ? stats.gamma : undefined,
          beta: flags.center ? stats.beta : undefined,
          mean: stats.mean,
          variance: stats.variance,
          epsilon: 0.001,
        });
        await check(style, sequential('bn_model', [4, 4, 3], layers), input, expected);
      });
    }
    test(`on a 2-D input (${style})`, async () => {
      const input = random([3, 5]);
      const stats = statistics(5);
      const layer: LayerDef = { className: 'BatchNormalization', name: 'bn', config: { axis: -1, epsilon: 0.01 }, weights: [['gamma', stats.gamma], ['beta', stats.beta], ['moving_mean', stats.mean], ['moving_variance', stats.variance]] };
      await check(style, sequential('bn2d_model', [5], [layer]), input, ref.batchNorm(input, -1, { ...stats, epsilon: 0.01 }));
    });
    test(`on axis 1 of a 4-D input (${style})`, async () => {
      const input = random([2, 3, 4, 2]);
      const stats = statistics(3);
      const layer: LayerDef = { className: 'BatchNormalization', name: 'bn', config: { axis: 1, epsilon: 0.001 }, weights: [['gamma', stats.gamma], ['beta', stats.beta], ['moving_mean', stats.mean], ['moving_variance', stats.variance]] };
      await check(style, sequential('bn_axis1_model', [3, 4, 2], [layer]), input, ref.batchNorm(input, 1, { ...stats, epsilon: 0.001 }));
    });
  }
});

describe('ZeroPadding2D, Rescaling, Normalization, Resizing', () => {
  for (const style of STYLES) {
    for (const padding of [1, [2, 1], [[0, 1], [2, 0]]]) {
      test(`ZeroPadding2D ${JSON.stringify(padding)} before Conv2D (${style})`, async () => {
        const input = random([1, 4, 5, 2]);
        const kernel = random([3, 3, 2, 2]);
        const [top, bottom, left, right] = typeof padding === 'number' ? [padding, padding, padding, padding] : typeof padding[0] === 'number' ? [2, 2, 1, 1] : [0, 1, 2, 0];
        const layers: LayerDef[] = [
          { className: 'ZeroPadding2D', name: 'pad', config: { padding, data_format: 'channels_last' } },
          { className: 'Conv2D', name: 'conv', config: { filters: 2, kernel_size: [3, 3], strides: [2, 2], use_bias: false }, weights: [['kernel', kernel]] },
        ];
        const expected = ref.conv2d(ref.zeroPad2d(input, top ?? 0, bottom ?? 0, left ?? 0, right ?? 0), kernel, null, { strides: [2, 2] });
        await check(style, sequential('pad_model', [4, 5, 2], layers), input, expected);
      });
    }
    test(`Rescaling 1/255 then per-channel scale and offset (${style})`, async () => {
      const input = random([1, 3, 3, 3], 0, 255);
      const layers: LayerDef[] = [
        { className: 'Rescaling', name: 'unit', config: { scale: 1 / 255, offset: 0 } },
        { className: 'Rescaling', name: 'channels', config: { scale: [2, 3, 4], offset: [-1, -0.5, 0.25] } },
      ];
      const scales = [2, 3, 4];
      const offsets = [-1, -0.5, 0.25];
      const expected = { shape: input.shape, data: input.data.map((value, flat) => (value / 255) * (scales[flat % 3] ?? 0) + (offsets[flat % 3] ?? 0)) };
      await check(style, sequential('rescale_model', [3, 3, 3], layers), input, expected);
    });
    test(`Normalization with mean and variance in the config (${style})`, async () => {
      const input = random([2, 3, 3, 3], 0, 10);
      const layer: LayerDef = { className: 'Normalization', name: 'norm', config: { axis: -1, mean: [1, 2, 3], variance: [4, 0.25, 9] } };
      await check(style, sequential('norm_model', [3, 3, 3], [layer]), input, ref.normalize(input, [1, 2, 3], [4, 0.25, 9]));
    });
    test(`Normalization adapted (statistics in the weights) (${style})`, async () => {
      const input = random([1, 2, 2, 3], 0, 10);
      const mean = ref.tensor([3], [5, 4, 3]);
      const variance = ref.tensor([3], [2, 3, 4]);
      const layer: LayerDef = { className: 'Normalization', name: 'norm', config: { axis: [-1], mean: null, variance: null }, weights: [['mean', mean], ['variance', variance], ['count', ref.tensor([], [10])]] };
      await check(style, sequential('norm_adapted', [2, 2, 3], [layer]), input, ref.normalize(input, [5, 4, 3], [2, 3, 4]));
    });
    for (const [inSize, outSize] of [[[9, 7], [4, 5]], [[3, 4], [7, 6]]] as const) {
      for (const interpolation of ['bilinear', 'nearest'] as const) {
        test(`Resizing ${interpolation} ${inSize.join('x')} to ${outSize.join('x')} (${style})`, async () => {
          const input = random([2, inSize[0], inSize[1], 2]);
          const layer: LayerDef = { className: 'Resizing', name: 'resize', config: { height: outSize[0], width: outSize[1], interpolation, crop_to_aspect_ratio: false } };
          const expected = interpolation === 'bilinear' ? ref.resizeBilinear(input, outSize[0], outSize[1]) : ref.resizeNearest(input, outSize[0], outSize[1]);
          await check(style, sequential('resize_model', [inSize[0], inSize[1], 2], [layer]), input, expected);
        });
      }
    }
    test(`Resizing bilinear after Conv2D (NCHW input) (${style})`, async () => {
      const input = random([1, 5, 5, 2]);
      const kernel = random([1, 1, 2, 3]);
      const layers: LayerDef[] = [
        { className: 'Conv2D', name: 'conv', config: { filters: 3, kernel_size: 1, use_bias: false }, weights: [['kernel', kernel]] },
        { className: 'Resizing', name: 'resize', config: { height: 8, width: 3, interpolation: 'bilinear' } },
      ];
      await check(style, sequential('resize_conv', [5, 5, 2], layers), input, ref.resizeBilinear(ref.conv2d(input, kernel, null), 8, 3));
    });
  }
});

describe('merge layers', () => {
  const elementwise: Array<{ className: string; combine: (a: number, b: number) => number }> = [
    { className: 'Add', combine: (a, b) => a + b },
    { className: 'Subtract', combine: (a, b) => a - b },
    { className: 'Multiply', combine: (a, b) => a * b },
    { className: 'Average', combine: (a, b) => (a + b) / 2 },
    { className: 'Maximum', combine: (a, b) => Math.max(a, b) },
    { className: 'Minimum', combine: (a, b) => Math.min(a, b) },
  ];
  for (const style of STYLES) {
    for (const { className, combine } of elementwise) {
      test(`${className} of a Conv2D output and the input (${style})`, async () => {
        const input = random([2, 4, 4, 3]);
        const kernel = random([3, 3, 3, 3]);
        const model: ModelDef = {
          kind: 'functional',
          name: 'merge_model',
          inputShape: [4, 4, 3],
          inputName: 'image',
          layers: [
            { className: 'Conv2D', name: 'conv', config: { filters: 3, kernel_size: 3, padding: 'same', use_bias: false }, weights: [['kernel', kernel]], calls: [['image']] },
            { className, name: 'merge', config: {}, calls: [['conv', 'image']] },
          ],
          output: 'merge',
        };
        const expected = ref.broadcastBinary(ref.conv2d(input, kernel, null, { padding: 'same' }), input, combine);
        await check(style, model, input, expected);
      });
    }
    test(`Multiply with a broadcast [1, 1, C] gate (squeeze-and-excitation) (${style})`, async () => {
      const input = random([2, 3, 3, 4]);
      const kernel = random([1, 1, 4, 4]);
      const model: ModelDef = {
        kind: 'functional',
        name: 'se_model',
        inputShape: [3, 3, 4],
        inputName: 'image',
        layers: [
          { className: 'Conv2D', name: 'conv', config: { filters: 4, kernel_size: 1, use_bias: false }, weights: [['kernel', kernel]], calls: [['image']] },
          { className: 'GlobalAveragePooling2D', name: 'squeeze', config: { keepdims: true }, calls: [['conv']] },
          { className: 'Activation', name: 'gate', config: { activation: 'sigmoid' }, calls: [['squeeze']] },
          { className: 'Multiply', name: 'excite', config: {}, calls: [['conv', 'gate']] },
        ],
        output: 'excite',
      };
      const features = ref.conv2d(input, kernel, null);
      const gate = ref.map(ref.globalPool2d(features, 'average', true), ref.activation('sigmoid'));
      await check(style, model, input, ref.broadcastBinary(features, gate, (a, b) => a * b));
    });
    test(`Concatenate on channels and on width (${style})`, async () => {
      const input = random([1, 3, 4, 2]);
      const kernel = random([1, 1, 2, 3]);
      for (const axis of [-1, 2]) {
        const model: ModelDef = {
          kind: 'functional',
          name: 'concat_model',
          inputShape: [3, 4, 2],
          inputName: 'image',
          layers: [
            { className: 'Conv2D', name: 'conv', config: { filters: axis === -1 ? 3 : 2, kernel_size: 1, use_bias: false }, weights: [['kernel', axis === -1 ? kernel : ref.randomTensor([1, 1, 2, 2], 77)]], calls: [['image']] },
            { className: 'Concatenate', name: 'concat', config: { axis }, calls: [['image', 'conv']] },
          ],
          output: 'concat',
        };
        const convKernel = axis === -1 ? kernel : ref.randomTensor([1, 1, 2, 2], 77);
        await check(style, model, input, ref.concatenate([input, ref.conv2d(input, convKernel, null)], axis));
      }
    });
  }
});
