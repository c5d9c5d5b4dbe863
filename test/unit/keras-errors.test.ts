/**
 * Broken and unsupported Keras files fail with a coded CascadeError whose message
 * names the file, the layer and the reason, never with a wrong graph.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { convertKerasFile } from '../../src/formats/keras/convert.js';
import { isCascadeError, type ErrorCode } from '../../src/shared/errors.js';
import { writeKerasModel, type KerasStyle, type LayerDef, type ModelDef } from '../support/keras-h5.js';
import { temporaryFolder } from '../support/keras-run.js';
import * as ref from '../support/reference-ops.js';

let folder: { path: string; remove: () => Promise<void> };
before(async () => {
  folder = await temporaryFolder('keras-errors');
});
after(async () => {
  await folder.remove();
});

let counter = 0;
async function writeModel(model: ModelDef, style: KerasStyle = 'keras2', extra: { omitModelConfig?: boolean; modelConfigText?: string } = {}): Promise<string> {
  counter += 1;
  const file = join(folder.path, `model-${counter}.h5`);
  await writeKerasModel(file, model, { style, ...extra });
  return file;
}

function single(layer: LayerDef, inputShape: number[] = [6, 6, 3]): ModelDef {
  return { kind: 'sequential', name: 'broken', inputShape, layers: [layer] };
}

async function expectFailure(file: string, code: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(convertKerasFile(file), (error: unknown) => {
    assert.ok(isCascadeError(error), `expected a CascadeError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    assert.ok(error.message.includes(file), `the message names the file: ${error.message}`);
    return true;
  });
}

const conv: LayerDef = {
  className: 'Conv2D',
  name: 'conv1',
  config: { filters: 2, kernel_size: 3, use_bias: false, data_format: 'channels_last' },
  weights: [['kernel', ref.randomTensor([3, 3, 3, 2], 1)]],
};

describe('broken files', () => {
  test('a truncated copy fails as truncated', async () => {
    const file = await writeModel(single(conv));
    const bytes = await readFile(file);
    const truncated = join(folder.path, 'truncated.h5');
    await writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectFailure(truncated, 'MODEL_LOAD_FAILED', /truncated: it has \d+ bytes but its header says \d+/);
  });

  test('a text file fails as not HDF5', async () => {
    const file = join(folder.path, 'readme.h5');
    await writeFile(file, 'this is not a model\n');
    await expectFailure(file, 'MODEL_LOAD_FAILED', /not an HDF5 file/);
  });

  test('an HDF5 file without model_config fails as weights-only', async () => {
    const file = await writeModel(single(conv), 'keras2', { omitModelConfig: true });
    await expectFailure(file, 'MODEL_LOAD_FAILED', /no model_config attribute/);
  });

  test('a model_config that is not JSON fails', async () => {
    const file = await writeModel(single(conv), 'keras2', { modelConfigText: '{"class_name": "Sequential", ' });
    await expectFailure(file, 'MODEL_LOAD_FAILED', /model_config is not valid JSON/);
  });

  test('a missing file fails', async () => {
    await expectFailure(join(folder.path, 'absent.h5'), 'MODEL_LOAD_FAILED', /could not be read/);
  });

  test('a missing weight is named with what the file lists', async () => {
    const layer: LayerDef = { ...conv, config: { ...conv.config, use_bias: true } };
    const file = await writeModel(single(layer));
    await expectFailure(file, 'MODEL_LOAD_FAILED', /layer 'conv1' has no weight named bias .*it lists: conv1\/kernel:0/);
  });

  test('a weight of the wrong shape is named', async () => {
    const layer: LayerDef = { ...conv, weights: [['kernel', ref.randomTensor([3, 3, 3, 4], 2)]] };
    const file = await writeModel(single(layer));
    await expectFailure(file, 'MODEL_LOAD_FAILED', /weight 'kernel' of layer 'conv1' has shape \[3, 3, 3, 4\], expected \[3, 3, 3, 2\]/);
  });
});

describe('unsupported layers and options', () => {
  test('an LSTM layer names its class', async () => {
    const file = await writeModel(single({ className: 'LSTM', name: 'lstm', config: { units: 4 } }, [5, 3]));
    await expectFailure(file, 'MODEL_LAYER_UNSUPPORTED', /layer 'lstm' of class LSTM is not supported \(supported: .*Conv2D/);
  });

  test('a Conv3D layer names its class (Keras 3)', async () => {
    const file = await writeModel(single({ className: 'Conv3D', name: 'volume', config: { filters: 2, kernel_size: 3 } }, [4, 4, 4, 1]), 'keras3');
    await expectFailure(file, 'MODEL_LAYER_UNSUPPORTED', /layer 'volume' of class Conv3D is not supported/);
  });

  test("data_format='channels_first' names the layer, option and value", async () => {
    const file = await writeModel(single({ ...conv, config: { ...conv.config, data_format: 'channels_first' } }));
    await expectFailure(file, 'MODEL_LAYER_UNSUPPORTED', /Conv2D 'conv1' option data_format='channels_first' is not supported/);
  });

  const optionCases: Array<{ title: string; layer: LayerDef; pattern: RegExp }> = [
    { title: "padding='causal'", layer: { ...conv, config: { ...conv.config, padding: 'causal' } }, pattern: /option padding='causal'/ },
    { title: 'an unknown option with a value (lora_rank)', layer: { className: 'Dense', name: 'dense', config: { units: 2, lora_rank: 4 } }, pattern: /Dense 'dense' option lora_rank=4/ },
    { title: "Resizing interpolation='bicubic'", layer: { className: 'Resizing', name: 'resize', config: { height: 4, width: 4, interpolation: 'bicubic' } }, pattern: /option interpolation='bicubic'/ },
    { title: 'Resizing crop_to_aspect_ratio=true', layer: { className: 'Resizing', name: 'resize', config: { height: 4, width: 4, crop_to_aspect_ratio: true } }, pattern: /option crop_to_aspect_ratio=true/ },
    { title: 'an unknown activation', layer: { className: 'Activation', name: 'act', config: { activation: 'my_activation' } }, pattern: /Activation 'act' option activation='my_activation'/ },
    { title: 'BatchNormalization over two axes', layer: { className: 'BatchNormalization', name: 'bn', config: { axis: [1, 2] } }, pattern: /BatchNormalization 'bn' option axis=\[1,2\]/ },
    { title: 'a quantized dtype policy', layer: { className: 'Dense', name: 'dense', config: { units: 2, dtype: { module: 'keras', class_name: 'QuantizedDTypePolicy', config: { name: 'int8_from_float32' }, registered_name: null } } }, pattern: /Dense 'dense' option dtype=/ },
  ];
  for (const { title, layer, pattern } of optionCases) {
    test(title, async () => {
      const file = await writeModel(single(layer, [6, 6, 3]));
      await expectFailure(file, 'MODEL_LAYER_UNSUPPORTED', pattern);
    });
  }

  test('a call with training=True (Monte Carlo dropout) is rejected (Keras 3)', async () => {
    const model: ModelDef = {
      kind: 'functional',
      name: 'mc_dropout',
      inputShape: [4],
      inputName: 'features',
      layers: [{ className: 'Dropout', name: 'dropout', config: { rate: 0.5 }, calls: [['features']], callKwargs: { training: true } }],
      output: 'dropout',
    };
    const file = await writeModel(model, 'keras3');
    await expectFailure(file, 'MODEL_LAYER_UNSUPPORTED', /Dropout 'dropout' call argument training=true is not supported/);
  });

  test('a custom layer class is rejected (Keras 3)', async () => {
    const model = single({ className: 'Dense', name: 'gate', config: { units: 2 } });
    const configText = JSON.stringify({
      class_name: 'Sequential',
      config: {
        name: 'custom',
        layers: [
          { class_name: 'InputLayer', config: { batch_shape: [null, 3], name: 'in' } },
          { module: 'my_package.layers', class_name: 'Dense', config: { name: 'gate', units: 2 }, registered_name: 'MyPackage>Dense' },
        ],
      },
    });
    const custom = await writeModel(model, 'keras3', { modelConfigText: configText });
    await expectFailure(custom, 'MODEL_LAYER_UNSUPPORTED', /Dense 'gate' custom layer class \(module my_package.layers, registered as MyPackage>Dense\)/);
  });

  test('a model with two outputs is rejected', async () => {
    const model: ModelDef = {
      kind: 'functional',
      name: 'two_heads',
      inputShape: [4],
      inputName: 'features',
      layers: [
        { className: 'Activation', name: 'first', config: { activation: 'relu' }, calls: [['features']] },
        { className: 'Activation', name: 'second', config: { activation: 'tanh' }, calls: [['features']] },
      ],
      output: ['first', 'second'],
    };
    for (const style of ['keras2', 'keras3'] as const) {
      const file = await writeModel(model, style);
      await expectFailure(file, 'MODEL_LAYER_UNSUPPORTED', /the model has 2 outputs/);
    }
  });
});
