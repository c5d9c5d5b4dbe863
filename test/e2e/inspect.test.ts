/**
 * `cascade inspect` run as a separate process on real model files: the HAM10000 Keras
 * CNN, the demonstration ONNX model, the example cluster config, Keras files written by
 * the test, and broken files and flags.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EXAMPLE_IMAGES } from '../support/cluster.js';
import { solidImage } from '../support/images.js';
import { writeKerasModel, type ModelDef } from '../support/keras-h5.js';
import { temporaryFolder } from '../support/keras-run.js';
import { BEST_MODEL, CATEGORIES_FILE, DEMO_ONNX } from '../support/models.js';
import { startMockDrive, type MockDrive } from '../support/mock-drive.js';
import { REPO_ROOT, startCli } from '../support/processes.js';
import * as ref from '../support/reference-ops.js';

const MELANOMA_PHOTO = join(EXAMPLE_IMAGES, 'mel', 'ISIC_0025744.jpg');
const CATEGORIES = readFileSync(CATEGORIES_FILE, 'utf8').trim().split('\n');
const HAM_FLAGS = ['--input-size', '28', '--resize', 'nearest', '--labels-file', CATEGORIES_FILE];

interface RankedClass {
  index: number;
  label: string;
  probability: number;
}

/** The fields of the `--json` object these tests read. */
interface Report {
  file: string;
  format: string;
  description: string;
  sha256: string;
  sizeBytes: number;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  layout: string;
  hints: { height: number | null; width: number | null; rescalesInGraph: boolean; resizesInGraph: boolean };
  layers: { name: string; className: string; handling: string; outputShape: (number | null)[] }[];
  preprocessing: {
    inputHeight: number | null;
    inputWidth: number | null;
    resize: string;
    scale: string;
    mean: number[] | null;
    std: number[] | null;
    channelOrder: string;
    layout: string;
    output: string;
    from: Record<string, string>;
  };
  labels: string[];
  notes: string[];
  prediction: { image: string; width: number; height: number; classes: RankedClass[] } | null;
}

interface InspectRun {
  code: number | null;
  stdout: string;
  /** stdout and stderr together, for failure messages. */
  output: string;
}

/** Runs `cascade inspect <args>` and keeps stdout apart, so `--json` output parses even when stderr has lines. */
async function inspect(args: string[]): Promise<InspectRun> {
  const cli = startCli(['inspect', ...args]);
  let stdout = '';
  cli.child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const code = await cli.exited;
  return { code, stdout, output: cli.output() };
}

async function inspectJson(args: string[]): Promise<Report> {
  const run = await inspect([...args, '--json']);
  assert.equal(run.code, 0, `inspect failed:\n${run.output}`);
  const parsed: unknown = JSON.parse(run.stdout);
  assert.equal(typeof parsed, 'object', `stdout is not a JSON object: ${run.stdout}`);
  assert.notEqual(parsed, null, 'stdout is null, expected a JSON object');
  return parsed as Report;
}

function sumOf(classes: RankedClass[]): number {
  return classes.reduce((total, entry) => total + entry.probability, 0);
}

function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

let folder: { path: string; remove: () => Promise<void> };
before(async () => {
  folder = await temporaryFolder('inspect');
});
after(async () => {
  await folder.remove();
});

describe('cascade inspect on the HAM10000 Keras model', () => {
  let flagsReport: Report;
  let cacheDir: string;

  before(async () => {
    cacheDir = join(folder.path, 'cache');
    flagsReport = await inspectJson([BEST_MODEL, '--image', MELANOMA_PHOTO, ...HAM_FLAGS, '--cache-dir', cacheDir]);
  });

  test('melanoma photo ranks Melanoma first', () => {
    const classes = flagsReport.prediction?.classes ?? [];
    assert.equal(classes.length, 7);
    assert.equal(classes[0]?.label, 'Melanoma');
    assert.equal(classes[0]?.index, 6);
    assert.ok(Math.abs(sumOf(classes) - 1) < 1e-6, `probabilities sum to ${sumOf(classes)}`);
    for (let rank = 1; rank < classes.length; rank += 1) {
      assert.ok((classes[rank - 1]?.probability ?? 0) >= (classes[rank]?.probability ?? 0), `class at rank ${rank} is out of order`);
    }
    assert.equal(flagsReport.prediction?.width, 600);
    assert.equal(flagsReport.prediction?.height, 450);
  });

  test('file facts and converted shapes', () => {
    assert.equal(flagsReport.format, 'keras');
    assert.match(flagsReport.description, /^Keras 2\.12\.0 \(tensorflow backend\), Sequential/);
    assert.equal(flagsReport.sha256, sha256Of(BEST_MODEL));
    assert.equal(flagsReport.sizeBytes, readFileSync(BEST_MODEL).length);
    assert.deepEqual(flagsReport.inputShape, [null, 28, 28, 3]);
    assert.deepEqual(flagsReport.outputShape, [null, 7]);
    assert.equal(flagsReport.layout, 'nhwc');
    assert.deepEqual(flagsReport.hints, { height: 28, width: 28, rescalesInGraph: false, resizesInGraph: false });
  });

  test('layer report lists every Keras layer', () => {
    const layers = flagsReport.layers;
    assert.equal(layers.length, 16);
    assert.deepEqual(layers[0], { name: 'conv2d_input', className: 'InputLayer', handling: "graph input 'conv2d_input' (NHWC, float32)", outputShape: [null, 28, 28, 3] });
    const conv = layers.find((layer) => layer.name === 'conv2d');
    assert.equal(conv?.className, 'Conv2D');
    assert.deepEqual(conv?.outputShape, [null, 27, 27, 32]);
    const dropout = layers.find((layer) => layer.className === 'Dropout');
    assert.equal(dropout?.handling, 'identity at inference');
  });

  test('resolved preprocessing names each source', () => {
    const preprocessing = flagsReport.preprocessing;
    assert.equal(preprocessing.inputHeight, 28);
    assert.equal(preprocessing.inputWidth, 28);
    assert.equal(preprocessing.resize, 'nearest');
    assert.equal(preprocessing.scale, '1/255');
    assert.equal(preprocessing.mean, null);
    assert.equal(preprocessing.channelOrder, 'rgb');
    assert.equal(preprocessing.layout, 'nhwc');
    assert.deepEqual(preprocessing.from, { inputSize: 'flag', resize: 'flag', scale: 'default', channelOrder: 'default', layout: 'model', output: 'default', labels: 'flag' });
    assert.deepEqual(flagsReport.labels, CATEGORIES);
    assert.deepEqual(flagsReport.notes, []);
  });

  test('--cache-dir keeps the converted graph', () => {
    assert.ok(existsSync(join(cacheDir, 'onnx', `${sha256Of(BEST_MODEL)}.onnx`)), `no converted graph under ${cacheDir}`);
  });

  test('--config entry gives the same answer as the flags', async () => {
    const report = await inspectJson(['--config', join(REPO_ROOT, 'examples', 'local'), '--model', 'basic', '--image', MELANOMA_PHOTO]);
    assert.equal(report.file, BEST_MODEL);
    assert.deepEqual(report.labels, CATEGORIES);
    assert.equal(report.preprocessing.from.inputSize, 'config');
    assert.equal(report.preprocessing.from.labels, 'config');
    assert.equal(report.preprocessing.resize, 'nearest');
    assert.deepEqual(report.prediction?.classes, flagsReport.prediction?.classes);
  });

  test('flags override the --config entry', async () => {
    const report = await inspectJson(['--config', join(REPO_ROOT, 'examples', 'local'), '--model', 'basic', '--resize', 'bilinear', '--scale', '[-1,1]']);
    assert.equal(report.preprocessing.resize, 'bilinear');
    assert.equal(report.preprocessing.from.resize, 'flag');
    assert.equal(report.preprocessing.scale, '[-1,1]');
    assert.equal(report.preprocessing.from.scale, 'flag');
    assert.equal(report.preprocessing.inputHeight, 28);
    assert.equal(report.prediction, null);
  });

  test('text report shows each section', async () => {
    const run = await inspect([BEST_MODEL, '--image', MELANOMA_PHOTO, ...HAM_FLAGS]);
    assert.equal(run.code, 0, run.output);
    assert.match(run.stdout, /^format +keras: Keras 2\.12\.0/m);
    assert.match(run.stdout, /^layers \(16\)$/m);
    assert.match(run.stdout, /^ +conv2d +Conv2D +\[\?, 27, 27, 32\] +Conv/m);
    assert.match(run.stdout, /^ +resize +nearest \(from a flag\)$/m);
    assert.match(run.stdout, /^labels \(7, from a flag\)$/m);
    // The first line after the prediction heading is the most likely class.
    assert.match(run.stdout, /^prediction for .*ISIC_0025744\.jpg \(600x450 pixels\), most likely first\n +0\.9\d+ +Melanoma +class 6$/m);
  });
});

describe('cascade inspect on the demonstration ONNX model', () => {
  test('NCHW shapes, nodes and default labels', async () => {
    const report = await inspectJson([DEMO_ONNX, '--image', MELANOMA_PHOTO]);
    assert.equal(report.format, 'onnx');
    assert.match(report.description, /^ONNX IR \d+ \(ai\.onnx \d+\), producer cascade-synthetic, 12 nodes$/);
    assert.deepEqual(report.inputShape, [1, 3, 64, 64]);
    assert.deepEqual(report.outputShape, [1, 3]);
    assert.equal(report.layout, 'nchw');
    assert.equal(report.preprocessing.layout, 'nchw');
    assert.equal(report.preprocessing.inputHeight, 64);
    assert.equal(report.preprocessing.from.inputSize, 'model');
    assert.equal(report.layers.length, 12);
    assert.equal(report.layers[0]?.className, 'Conv');
    assert.deepEqual(report.labels, ['class_0', 'class_1', 'class_2']);
    const classes = report.prediction?.classes ?? [];
    assert.equal(classes.length, 3);
    assert.ok(Math.abs(sumOf(classes) - 1) < 1e-6, `probabilities sum to ${sumOf(classes)}`);
  });
});

describe('cascade inspect on a Drive id', () => {
  const driveId = 'DemoModelOnDrive0123456789ab';
  let drive: MockDrive;

  before(async () => {
    drive = await startMockDrive({ [driveId]: { bytes: readFileSync(DEMO_ONNX), mode: 'confirm' } });
  });

  after(async () => {
    await drive.close();
  });

  test('downloads through --drive-url', async () => {
    const report = await inspectJson([driveId, '--drive-url', drive.baseUrl]);
    assert.equal(report.format, 'onnx');
    assert.equal(report.sha256, sha256Of(DEMO_ONNX));
    assert.deepEqual(report.outputShape, [1, 3]);
    assert.ok(drive.requestCount(driveId) >= 2, 'the confirmation page was passed');
  });
});

describe('cascade inspect on a model that rescales in its graph', () => {
  // Rescaling(1/255), global average pooling and a softmax Dense: on a solid image the
  // output depends only on the colour, so the expected probabilities are computed here.
  const kernel = ref.randomTensor([3, 3], 71, -4, 4);
  const bias = ref.randomTensor([3], 72);
  const model: ModelDef = {
    kind: 'sequential',
    name: 'rescaling',
    inputShape: [16, 16, 3],
    layers: [
      { className: 'Rescaling', name: 'rescale', config: { scale: 1 / 255, offset: 0 } },
      { className: 'GlobalAveragePooling2D', name: 'pool', config: {} },
      { className: 'Dense', name: 'classes', config: { units: 3, activation: 'softmax' }, weights: [['kernel', kernel], ['bias', bias]] },
    ],
  };
  const colour = { r: 200, g: 40, b: 90 };
  let modelFile: string;
  let photo: string;

  before(async () => {
    modelFile = join(folder.path, 'rescaling.h5');
    photo = join(folder.path, 'solid.png');
    await writeKerasModel(modelFile, model, { style: 'keras2' });
    await writeFile(photo, await solidImage(16, 16, 'png', colour));
  });

  function expectedProbabilities(pixelScale: number): number[] {
    const pooled = ref.tensor([1, 3], [colour.r, colour.g, colour.b].map((value) => (value * pixelScale) / 255));
    return Array.from(ref.softmax(ref.dense(pooled, kernel, bias)).data);
  }

  function byIndex(classes: RankedClass[]): number[] {
    return [...classes].sort((left, right) => left.index - right.index).map((entry) => entry.probability);
  }

  test('scale defaults to none and says so', async () => {
    const report = await inspectJson([modelFile, '--image', photo]);
    assert.equal(report.hints.rescalesInGraph, true);
    assert.equal(report.preprocessing.scale, 'none');
    assert.equal(report.preprocessing.from.scale, 'model');
    assert.equal(report.notes.length, 1);
    assert.match(report.notes[0] ?? '', /rescales pixels in its graph .* defaults to none/);
    const expected = expectedProbabilities(1);
    byIndex(report.prediction?.classes ?? []).forEach((probability, index) => {
      assert.ok(Math.abs(probability - (expected[index] ?? Number.NaN)) < 1e-5, `class ${index}: ${probability}, expected ${expected[index]}`);
    });
  });

  test('--scale 1/255 wins over the default', async () => {
    const report = await inspectJson([modelFile, '--image', photo, '--scale', '1/255']);
    assert.equal(report.preprocessing.scale, '1/255');
    assert.equal(report.preprocessing.from.scale, 'flag');
    assert.deepEqual(report.notes, []);
    const expected = expectedProbabilities(1 / 255);
    byIndex(report.prediction?.classes ?? []).forEach((probability, index) => {
      assert.ok(Math.abs(probability - (expected[index] ?? Number.NaN)) < 1e-5, `class ${index}: ${probability}, expected ${expected[index]}`);
    });
  });
});

describe('cascade inspect failures', () => {
  async function expectFailure(args: string[], pattern: RegExp): Promise<void> {
    const run = await inspect(args);
    assert.notEqual(run.code, 0, `inspect succeeded:\n${run.output}`);
    assert.match(run.output, pattern);
  }

  test('truncated Keras file', async () => {
    const truncated = join(folder.path, 'truncated.h5');
    await writeFile(truncated, readFileSync(BEST_MODEL).subarray(0, 200_000));
    await expectFailure([truncated], /MODEL_LOAD_FAILED: .*truncated\.h5: the HDF5 file is truncated: it has 200000 bytes but its header says 414720/);
  });

  test('text file', async () => {
    const text = join(folder.path, 'notes.txt');
    await writeFile(text, 'these are not model weights\n');
    await expectFailure([text], /MODEL_FORMAT_UNKNOWN: .*notes\.txt: the model format is not recognised/);
  });

  test('unsupported layer names the layer', async () => {
    const file = join(folder.path, 'lstm.h5');
    await writeKerasModel(file, { kind: 'sequential', name: 'recurrent', inputShape: [5, 3], layers: [{ className: 'LSTM', name: 'lstm', config: { units: 4 } }] }, { style: 'keras2' });
    await expectFailure([file], /MODEL_LAYER_UNSUPPORTED: .*layer 'lstm' of class LSTM is not supported/);
  });

  test('label count that differs from the outputs', async () => {
    await expectFailure([BEST_MODEL, '--labels', 'a,b'], /MODEL_LABELS_MISMATCH: .*7 output classes but 2 labels/);
  });

  test('bad flag values', async () => {
    await expectFailure([BEST_MODEL, '--resize', 'cubic'], /'cubic' is invalid\. Allowed choices are nearest, bilinear, bicubic, lanczos3/);
    await expectFailure([BEST_MODEL, '--input-size', '28x0'], /'28x0' is not an input size; give H or HxW/);
    await expectFailure([BEST_MODEL, '--scale', 'mean_std', '--std', '0.2,0.2,0.2'], /--scale mean_std needs --mean/);
    await expectFailure(['--config', join(REPO_ROOT, 'examples', 'local'), '--model', 'second-9'], /--model second-9 was not found in .*; the models there are basic, second-1, second-6/);
  });

  test('missing model argument', async () => {
    await expectFailure([], /The model file argument is missing/);
  });
});

