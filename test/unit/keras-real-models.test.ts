/**
 * Tests the real Keras files in the shared data folder. Each one converts, runs on a
 * real photo and returns one value per label. The HAM10000 CNN must name the class
 * of each of the 40 HAM10000 photos. The tests skip with a message when the folder
 * is absent.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { convertKerasFile } from '../../src/formats/keras/convert.js';
import { runConverted } from '../support/keras-run.js';
import { EXAMPLE_IMAGES, EXAMPLE_MODELS } from '../support/cluster.js';
import { keepRaw, loadBilinear, loadLikeKeras, scaleSymmetric, scaleToUnit, SHARED_DATA, sharedDataPath, type PixelScaling } from '../support/keras-images.js';

const modelsRoot = sharedDataPath('models');
const hamImages = sharedDataPath('images/ham10000');

/** Labels of the files whose folder has no labels.txt, from the data set's README. */
const KNOWN_LABELS: Record<string, string[]> = {
  'compat/ham10000-8px-keras3.h5': ['akiec', 'bcc', 'bkl', 'df', 'mel', 'nv', 'vasc'],
  'compat/melanoma-sigmoid-keras3.h5': ['benign', 'melanoma'],
  'compat/mobilenetv2-nested-keras2.h5': ['Benign', 'Malignant'],
  'compat/infections-resizing-keras2.h5': ['cellulitis', 'impetigo', 'Athletes Foot', 'Nail Fungus', 'ringworm', 'Cutaneous Larva Migrans', 'chickenpox', 'shingles'],
};

/** How each model expects its pixels: raw 0..255 when it rescales itself, [0, 1] otherwise; MobileNetV2 takes [-1, 1]. */
const SCALING: Record<string, PixelScaling> = {
  'compat/mobilenetv2-nested-keras2.h5': scaleSymmetric,
};

/** One sigmoid output stands for two labels. */
const SIGMOID_MODELS = new Set(['compat/melanoma-sigmoid-keras3.h5']);

function modelFiles(root: string): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const name of readdirSync(folder).sort()) {
      const path = join(folder, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.h5')) found.push(path);
    }
  };
  walk(root);
  return found;
}

function labelsFor(root: string, file: string): string[] {
  const key = relative(root, file);
  const known = KNOWN_LABELS[key];
  if (known !== undefined) return known;
  const labelsFile = join(dirname(file), 'labels.txt');
  const text = readFileSync(labelsFile, 'utf8');
  return text.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
}

describe('real Keras files', { skip: modelsRoot === null || hamImages === null ? `the shared data folder (${SHARED_DATA}) is absent` : false }, () => {
  const root = modelsRoot ?? '';
  const photo = join(hamImages ?? '', 'mel', 'ISIC_0025744.jpg');
  for (const file of modelsRoot === null ? [] : modelFiles(root)) {
    const key = relative(root, file);
    test(`${key} converts and runs on a photo`, async () => {
      const labels = labelsFor(root, file);
      const converted = await convertKerasFile(file);
      const [, height, width] = converted.inputShape;
      assert.equal(typeof height, 'number', 'the model fixes its input height');
      assert.equal(typeof width, 'number', 'the model fixes its input width');
      const scale = SCALING[key] ?? (converted.hints.rescalesInGraph ? keepRaw : scaleToUnit);
      const load = converted.hints.resizesInGraph || key.startsWith('dermnet') ? loadBilinear : loadLikeKeras;
      const input = await load(photo, Number(width), Number(height), scale);
      const output = await runConverted(converted, input);
      const expectedCount = SIGMOID_MODELS.has(key) ? 1 : labels.length;
      assert.deepEqual(output.shape, [1, expectedCount], `one output per label (${labels.join(', ')})`);
      assert.ok(output.data.every(Number.isFinite), 'outputs are finite');
      const total = output.data.reduce((sum, value) => sum + value, 0);
      if (!SIGMOID_MODELS.has(key)) assert.ok(Math.abs(total - 1) < 1e-4, `softmax outputs sum to 1, got ${total}`);
      else assert.ok(total >= 0 && total <= 1, `the sigmoid output is a probability, got ${total}`);
    });
  }

  test('the nested MobileNetV2 file is inlined into one graph', async () => {
    const converted = await convertKerasFile(join(root, 'compat/mobilenetv2-nested-keras2.h5'));
    const names = converted.layers.map((layer) => layer.name);
    assert.ok(names.includes('sequential_1/model1/block_16_project_BN'), 'layers of the doubly nested Functional are reported by path');
    assert.ok(names.includes('sequential_3/dense_Dense2'));
    assert.deepEqual(converted.outputShape, [null, 2]);
  });

  test('the infections model keeps its declared input and resizes in the graph', async () => {
    const converted = await convertKerasFile(join(root, 'compat/infections-resizing-keras2.h5'));
    assert.deepEqual(converted.inputShape, [null, 234, 234, 3]);
    assert.deepEqual(converted.hints, { height: 234, width: 234, rescalesInGraph: true, resizesInGraph: true });
  });
});

// The MIT-licensed model and the photos are copied into the repository, so this runs everywhere.
describe('HAM10000 CNN on HAM10000 photos', () => {
  const modelFile = join(EXAMPLE_MODELS, 'ham10000-cnn', 'best_model.h5');
  const imagesRoot = EXAMPLE_IMAGES;

  test('best_model.h5 names the folder label of all 40 photos', async () => {
    const labels = labelsFor(EXAMPLE_MODELS, modelFile);
    assert.deepEqual(labels, ['akiec', 'bcc', 'bkl', 'df', 'nv', 'vasc', 'mel']);
    const converted = await convertKerasFile(modelFile);
    const photos = readdirSync(imagesRoot)
      .filter((name) => statSync(join(imagesRoot, name)).isDirectory())
      .flatMap((label) => readdirSync(join(imagesRoot, label)).filter((name) => name.endsWith('.jpg')).map((name) => ({ label, path: join(imagesRoot, label, name) })));
    assert.equal(photos.length, 40);
    const wrong: string[] = [];
    for (const { label, path } of photos) {
      const input = await loadLikeKeras(path, 28, 28, scaleToUnit);
      const output = await runConverted(converted, input);
      const scores = Array.from(output.data);
      const predicted = labels[scores.indexOf(Math.max(...scores))];
      if (predicted !== label) wrong.push(`${label}/${basename(path)} → ${predicted}`);
    }
    assert.deepEqual(wrong, [], 'every photo gets its folder label');
  });
});
