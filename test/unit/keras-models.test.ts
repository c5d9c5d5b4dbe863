/**
 * Tests model structure: Sequential and Functional models nested in each other, in
 * both config styles. Also covers input-shape sources, the layer report and hints,
 * the conversion cache, format detection and the ONNX format.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { convertKerasFile } from '../../src/formats/keras/convert.js';
import { detectFormat } from '../../src/formats/index.js';
import { attr, OnnxGraphBuilder } from '../../src/formats/onnx-builder.js';
import { isCascadeError } from '../../src/shared/errors.js';
import { writeKerasModel, type KerasStyle, type LayerDef, type ModelDef } from '../support/keras-h5.js';
import { assertClose, convertAndRun, runConverted, temporaryFolder } from '../support/keras-run.js';
import * as ref from '../support/reference-ops.js';

const STYLES: KerasStyle[] = ['keras2', 'keras3'];

let folder: { path: string; remove: () => Promise<void> };
before(async () => {
  folder = await temporaryFolder('keras-models');
});
after(async () => {
  await folder.remove();
});

/** Builds a residual block as a Functional model (conv, batch norm, relu6, plus the block input) and its reference. */
function residualBlock(name: string, channels: number, seed: number, inputName = `${name}_input`): { model: ModelDef; expected: (x: ref.Tensor) => ref.Tensor } {
  const kernel = ref.randomTensor([3, 3, channels, channels], seed, -0.4, 0.4);
  const gamma = ref.randomTensor([channels], seed + 1, 0.5, 1.5);
  const beta = ref.randomTensor([channels], seed + 2);
  const mean = ref.randomTensor([channels], seed + 3);
  const variance = ref.randomTensor([channels], seed + 4, 0.2, 2);
  const model: ModelDef = {
    kind: 'functional',
    name,
    inputShape: [null, null, channels],
    inputName,
    layers: [
      { className: 'Conv2D', name: 'conv', config: { filters: channels, kernel_size: 3, padding: 'same', use_bias: false }, weights: [['kernel', kernel]], calls: [[inputName]] },
      {
        className: 'BatchNormalization',
        name: 'bn',
        config: { axis: -1, epsilon: 0.001 },
        weights: [['gamma', gamma], ['beta', beta], ['moving_mean', mean], ['moving_variance', variance]],
        calls: [['conv']],
      },
      { className: 'ReLU', name: 'relu', config: { max_value: 6, negative_slope: 0, threshold: 0 }, calls: [['bn']] },
      { className: 'Add', name: 'add', config: {}, calls: [['relu', inputName]] },
    ],
    output: 'add',
  };
  const expected = (x: ref.Tensor): ref.Tensor => {
    const normalized = ref.batchNorm(ref.conv2d(x, kernel, null, { padding: 'same' }), -1, { gamma, beta, mean, variance, epsilon: 0.001 });
    return ref.broadcastBinary(ref.map(normalized, ref.activation('relu6')), x, (a, b) => a + b);
  };
  return { model, expected };
}

describe('nested models', () => {
  for (const style of STYLES) {
    test(`Functional inside Sequential inside Sequential (${style})`, async () => {
      const block = residualBlock('block', 3, 100);
      const headKernel = ref.randomTensor([3, 2], 200);
      const headBias = ref.randomTensor([2], 201);
      // The outer model also has a layer named "conv", like the block's; weights must come from the right group.
      const stemKernel = ref.randomTensor([1, 1, 3, 3], 202);
      const inner: ModelDef = { kind: 'sequential', name: 'features', inputShape: [6, 6, 3], layers: [{ model: block.model }] };
      const outer: ModelDef = {
        kind: 'sequential',
        name: 'classifier',
        inputShape: [6, 6, 3],
        layers: [
          { className: 'Conv2D', name: 'conv', config: { filters: 3, kernel_size: 1, use_bias: false }, weights: [['kernel', stemKernel]] },
          { model: inner },
          { className: 'GlobalAveragePooling2D', name: 'pool', config: {} },
          { className: 'Dense', name: 'head', config: { units: 2, activation: 'softmax' }, weights: [['kernel', headKernel], ['bias', headBias]] },
        ],
      };
      const input = ref.randomTensor([2, 6, 6, 3], 203);
      const features = block.expected(ref.conv2d(input, stemKernel, null));
      const expected = ref.softmax(ref.dense(ref.globalPool2d(features, 'average'), headKernel, headBias));
      const { output, converted } = await convertAndRun(folder.path, outer, style, input);
      assertClose(output, expected);
      const names = converted.layers.map((layer) => layer.name);
      assert.ok(names.includes('features/block/bn'), `report lists nested layers by path: ${names.join(', ')}`);
      assert.ok(names.includes('features'), 'report lists the nested model itself');
    });

    test(`Sequential inside Functional, and a shared layer called twice (${style})`, async () => {
      const sharedKernel = ref.randomTensor([4, 4], 300);
      const sharedBias = ref.randomTensor([4], 301);
      const branchKernel = ref.randomTensor([1, 1, 2, 4], 302);
      const branch: ModelDef = {
        kind: 'sequential',
        name: 'branch',
        inputShape: [3, 3, 2],
        layers: [
          { className: 'Conv2D', name: 'branch_conv', config: { filters: 4, kernel_size: 1, use_bias: false }, weights: [['kernel', branchKernel]] },
          { className: 'GlobalMaxPooling2D', name: 'branch_pool', config: {} },
        ],
      };
      const model: ModelDef = {
        kind: 'functional',
        name: 'two_paths',
        inputShape: [3, 3, 2],
        inputName: 'image',
        layers: [
          { model: branch, calls: [['image']] },
          { className: 'GlobalAveragePooling2D', name: 'avg', config: {}, calls: [['image']] },
          { className: 'Dense', name: 'widen', config: { units: 4, use_bias: false }, weights: [['kernel', ref.randomTensor([2, 4], 303)]], calls: [['avg']] },
          {
            className: 'Dense',
            name: 'shared',
            config: { units: 4, activation: 'tanh' },
            weights: [['kernel', sharedKernel], ['bias', sharedBias]],
            calls: [['branch'], ['widen']],
          },
          { className: 'Add', name: 'sum', config: {}, calls: [[{ layer: 'shared', node: 0, tensor: 0 }, { layer: 'shared', node: 1, tensor: 0 }]] },
        ],
        output: 'sum',
      };
      const input = ref.randomTensor([2, 3, 3, 2], 304);
      const shared = (x: ref.Tensor): ref.Tensor => ref.map(ref.dense(x, sharedKernel, sharedBias), Math.tanh);
      const fromBranch = shared(ref.globalPool2d(ref.conv2d(input, branchKernel, null), 'max'));
      const fromWiden = shared(ref.dense(ref.globalPool2d(input, 'average'), ref.randomTensor([2, 4], 303), null));
      const { output } = await convertAndRun(folder.path, model, style, input);
      assertClose(output, ref.broadcastBinary(fromBranch, fromWiden, (a, b) => a + b));
    });
  }
});

describe('input shape', () => {
  for (const style of STYLES) {
    test(`Sequential without InputLayer takes the first layer's batch shape (${style})`, async () => {
      const kernel = ref.randomTensor([2, 2, 3, 2], 400);
      const shapeKey = style === 'keras2' ? 'batch_input_shape' : 'batch_shape';
      const model: ModelDef = {
        kind: 'sequential',
        name: 'no_input_layer',
        inputShape: null,
        layers: [{ className: 'Conv2D', name: 'conv', config: { [shapeKey]: [null, 5, 5, 3], filters: 2, kernel_size: 2, use_bias: false }, weights: [['kernel', kernel]] }],
      };
      const input = ref.randomTensor([1, 5, 5, 3], 401);
      const { output, converted } = await convertAndRun(folder.path, model, style, input);
      assert.deepEqual(converted.inputShape, [null, 5, 5, 3]);
      assertClose(output, ref.conv2d(input, kernel, null));
    });
  }

  test('a stray 5-D batch_input_shape on a later layer is ignored, as Keras does', async () => {
    const kernel = ref.randomTensor([3, 3, 3, 2], 410);
    const model: ModelDef = {
      kind: 'sequential',
      name: 'stray_shape',
      inputShape: [6, 6, 3],
      layers: [
        { className: 'Rescaling', name: 'rescale', config: { scale: 0.5, offset: 0 } },
        { className: 'Conv2D', name: 'conv', config: { batch_input_shape: [null, 30, 6, 6, 3], filters: 2, kernel_size: 3, use_bias: false }, weights: [['kernel', kernel]] },
      ],
    };
    const input = ref.randomTensor([1, 6, 6, 3], 411);
    const { output, converted } = await convertAndRun(folder.path, model, 'keras2', input);
    assert.deepEqual(converted.inputShape, [null, 6, 6, 3]);
    assertClose(output, ref.conv2d(ref.map(input, (x) => x * 0.5), kernel, null));
  });
});

describe('report and hints', () => {
  test('layers, shapes, description and hints of a Rescaling and Resizing model', async () => {
    const kernel = ref.randomTensor([3, 3, 3, 2], 500);
    const model: ModelDef = {
      kind: 'sequential',
      name: 'hinted',
      inputShape: [8, 8, 3],
      layers: [
        { className: 'Resizing', name: 'resize', config: { height: 6, width: 6, interpolation: 'bilinear' } },
        { className: 'Rescaling', name: 'rescale', config: { scale: 1 / 255, offset: 0 } },
        { className: 'Conv2D', name: 'conv', config: { filters: 2, kernel_size: 3, padding: 'same', use_bias: false }, weights: [['kernel', kernel]] },
      ],
    };
    const file = join(folder.path, 'hinted.h5');
    await writeKerasModel(file, model, { style: 'keras2', kerasVersion: '2.14.0' });
    const converted = await convertKerasFile(file);
    assert.equal(converted.layout, 'nhwc');
    assert.deepEqual(converted.inputShape, [null, 8, 8, 3]);
    assert.deepEqual(converted.outputShape, [null, 6, 6, 2]);
    assert.deepEqual(converted.hints, { height: 8, width: 8, rescalesInGraph: true, resizesInGraph: true });
    assert.match(converted.description, /Keras 2\.14\.0 \(tensorflow backend\), Sequential 'hinted'/);
    assert.deepEqual(converted.layers.map((layer) => [layer.name, layer.className]), [
      ['hinted_input', 'InputLayer'],
      ['resize', 'Resizing'],
      ['rescale', 'Rescaling'],
      ['conv', 'Conv2D'],
    ]);
    assert.deepEqual(converted.layers[3]?.outputShape, [null, 6, 6, 2]);
    assert.match(converted.layers[3]?.handling ?? '', /^Conv \(pads \[1, 1, 1, 1\] from 'same'\)$/);
  });

  test('a Rescaling layer after a Conv2D is not a preprocessing hint', async () => {
    const model: ModelDef = {
      kind: 'sequential',
      name: 'late_rescale',
      inputShape: [4, 4, 1],
      layers: [
        { className: 'Conv2D', name: 'conv', config: { filters: 1, kernel_size: 1, use_bias: false }, weights: [['kernel', ref.randomTensor([1, 1, 1, 1], 510)]] },
        { className: 'Rescaling', name: 'rescale', config: { scale: 2 } },
      ],
    };
    const file = join(folder.path, 'late.h5');
    await writeKerasModel(file, model, { style: 'keras3' });
    const converted = await convertKerasFile(file);
    assert.equal(converted.hints.rescalesInGraph, false);
    assert.equal(converted.hints.resizesInGraph, false);
  });
});

describe('conversion cache', () => {
  const model: ModelDef = {
    kind: 'sequential',
    name: 'cached',
    inputShape: [4],
    layers: [{ className: 'Dense', name: 'dense', config: { units: 2 }, weights: [['kernel', ref.randomTensor([4, 2], 600)], ['bias', ref.randomTensor([2], 601)]] }],
  };

  test('second load reads the cached graph and report', async () => {
    const file = join(folder.path, 'cached.h5');
    const cacheDir = join(folder.path, 'cache');
    await writeKerasModel(file, model, { style: 'keras2' });
    const first = await convertKerasFile(file, { cacheDir });
    const digest = (await import('node:crypto')).createHash('sha256').update(await readFile(file)).digest('hex');
    const recordPath = join(cacheDir, 'onnx', `${digest}.json`);
    const graph = await readFile(join(cacheDir, 'onnx', `${digest}.onnx`));
    assert.deepEqual(new Uint8Array(graph), first.onnx);
    // Edit the cached record: a second load that returns the edit did not convert again.
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as Record<string, unknown>;
    await writeFile(recordPath, JSON.stringify({ ...record, description: 'from the cache' }));
    const second = await convertKerasFile(file, { cacheDir });
    assert.equal(second.description, 'from the cache');
    assert.deepEqual(second.onnx, first.onnx);
    const input = ref.randomTensor([1, 4], 602);
    assertClose(await runConverted(second, input), await runConverted(first, input), 0);
  });

  test('a record from another converter version is converted again', async () => {
    const file = join(folder.path, 'cached-old.h5');
    const cacheDir = join(folder.path, 'cache-old');
    await writeKerasModel(file, model, { style: 'keras3' });
    const first = await convertKerasFile(file, { cacheDir });
    const digest = (await import('node:crypto')).createHash('sha256').update(await readFile(file)).digest('hex');
    const recordPath = join(cacheDir, 'onnx', `${digest}.json`);
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as Record<string, unknown>;
    await writeFile(recordPath, JSON.stringify({ ...record, converterVersion: 0, description: 'stale' }));
    const second = await convertKerasFile(file, { cacheDir });
    assert.equal(second.description, first.description);
  });
});

describe('format detection and the ONNX format', () => {
  function onnxModel(inputDims: (number | string)[]): Uint8Array {
    const graph = new OnnxGraphBuilder({ graphName: 'probe' });
    const input = graph.addInput('pixels', inputDims);
    const reduced = graph.addOp('ReduceMean', [input], { axes: attr.ints([2, 3]), keepdims: attr.int(0) }, 'scores');
    graph.addOutput(reduced, ['N', inputDims[1] ?? 3]);
    return graph.toBytes();
  }

  test('detectFormat picks Keras for HDF5 and ONNX for a ModelProto', async () => {
    const h5 = join(folder.path, 'detect.h5');
    await writeKerasModel(h5, { kind: 'sequential', name: 'detect', inputShape: [2], layers: [] }, { style: 'keras2' });
    assert.equal((await detectFormat(h5, 'auto')).name, 'keras');
    const onnxPath = join(folder.path, 'model.bin');
    await writeFile(onnxPath, onnxModel(['N', 3, 4, 4]));
    assert.equal((await detectFormat(onnxPath, 'auto')).name, 'onnx');
    assert.equal((await detectFormat(onnxPath, 'keras')).name, 'keras', 'a declared format wins');
  });

  test('detectFormat rejects a file that is neither', async () => {
    const text = join(folder.path, 'notes.txt');
    await writeFile(text, 'not a model\n');
    await assert.rejects(detectFormat(text, 'auto'), (error: unknown) => {
      assert.ok(isCascadeError(error));
      assert.equal(error.code, 'MODEL_FORMAT_UNKNOWN');
      assert.match(error.message, /6e 6f 74 20 61 20 6d 6f/);
      return true;
    });
  });

  test('the ONNX format reads shapes and layout', async () => {
    const nchw = join(folder.path, 'nchw.onnx');
    await writeFile(nchw, onnxModel(['N', 3, 32, 24]));
    const format = await detectFormat(nchw, 'auto');
    const converted = await format.convert(nchw);
    assert.deepEqual(converted.inputShape, [null, 3, 32, 24]);
    assert.deepEqual(converted.outputShape, [null, 3]);
    assert.equal(converted.layout, 'nchw');
    assert.equal(converted.hints.height, 32);
    assert.equal(converted.hints.width, 24);
    assert.deepEqual(converted.layers.map((layer) => layer.className), ['ReduceMean']);
    const nhwc = join(folder.path, 'nhwc.onnx');
    await writeFile(nhwc, onnxModel(['N', 20, 30, 3]));
    const nhwcModel = await (await detectFormat(nhwc, 'onnx')).convert(nhwc);
    assert.equal(nhwcModel.layout, 'nhwc');
    assert.equal(nhwcModel.hints.height, 20);
  });

  test('the ONNX format rejects bytes that are not a ModelProto', async () => {
    const broken = join(folder.path, 'broken.onnx');
    await copyFile(join(folder.path, 'notes.txt'), broken).catch(async () => writeFile(broken, 'not a model\n'));
    const format = await detectFormat(broken, 'auto');
    assert.equal(format.name, 'onnx', 'the .onnx extension decides');
    await assert.rejects(format.convert(broken), (error: unknown) => isCascadeError(error) && error.code === 'MODEL_LOAD_FAILED');
  });
});
