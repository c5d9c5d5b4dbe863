import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ModelConfig, Scaling } from '../../src/config/types.js';
import { loadModel } from '../../src/runtime/loader.js';
import { silentLogger } from '../../src/shared/logger.js';
import { defaultSourceSettings } from '../../src/sources/index.js';
import { writeKerasModel, type LayerDef } from '../support/keras-h5.js';
import { temporaryFolder } from '../support/keras-run.js';
import * as ref from '../support/reference-ops.js';

// Global average pooling and a softmax Dense: on a solid image the output depends only
// on the colour, so the expected probabilities are computed here from the weights.
const kernel = ref.randomTensor([3, 3], 81, -4, 4);
const bias = ref.randomTensor([3], 82);
const colour = [200, 40, 90];
const head: LayerDef[] = [
  { className: 'GlobalAveragePooling2D', name: 'pool', config: {} },
  { className: 'Dense', name: 'classes', config: { units: 3, activation: 'softmax' }, weights: [['kernel', kernel], ['bias', bias]] },
];

function expected(pixelScale: number): number[] {
  const pooled = ref.tensor([1, 3], colour.map((value) => value * pixelScale));
  return Array.from(ref.softmax(ref.dense(pooled, kernel, bias)).data);
}

function config(source: string, mode: Scaling['mode']): ModelConfig {
  return {
    id: 'basic', tier: 'basic', parents: [0], source, sha256: null, format: 'auto', category: null, categoryName: null, labels: null,
    preprocessing: { width: null, height: null, resize: 'bilinear', scaling: { mode, mean: [0, 0, 0], std: [1, 1, 1] }, channelOrder: 'rgb', layout: 'auto' },
    output: 'auto',
  };
}

function assertClose(actual: number[], wanted: number[], what: string): void {
  assert.equal(actual.length, wanted.length, what);
  actual.forEach((value, index) => assert.ok(Math.abs(value - (wanted[index] ?? Number.NaN)) < 1e-5, `${what}: class ${index} is ${value}, expected ${wanted[index]}`));
}

describe('LoadedModel scaling', () => {
  let folder: Awaited<ReturnType<typeof temporaryFolder>>;
  let withRescaling = '';
  let withoutRescaling = '';
  const image = { data: Buffer.alloc(16 * 16 * 3), width: 16, height: 16 };

  before(async () => {
    folder = await temporaryFolder('cascade-loaded-model-');
    withRescaling = join(folder.path, 'rescaling.h5');
    withoutRescaling = join(folder.path, 'plain.h5');
    const rescale: LayerDef = { className: 'Rescaling', name: 'rescale', config: { scale: 1 / 255, offset: 0 } };
    await writeKerasModel(withRescaling, { kind: 'sequential', name: 'rescaling', inputShape: [16, 16, 3], layers: [rescale, ...head] }, { style: 'keras2' });
    await writeKerasModel(withoutRescaling, { kind: 'sequential', name: 'plain', inputShape: [16, 16, 3], layers: head }, { style: 'keras2' });
    for (let pixel = 0; pixel < 16 * 16; pixel += 1) image.data.set(colour, pixel * 3);
  });

  after(() => folder.remove());

  async function classify(source: string, mode: Scaling['mode']): Promise<number[]> {
    const model = await loadModel(config(source, mode), { sources: { ...defaultSourceSettings(join(folder.path, 'cache')), progress: false }, session: { intraOpThreads: 1 }, logger: silentLogger() });
    try {
      return await model.classify(image);
    } finally {
      await model.close();
    }
  }

  it('passes raw pixels to a graph that rescales itself', async () => {
    assertClose(await classify(withRescaling, 'auto'), expected(1 / 255), 'auto with a Rescaling layer');
  });

  it('divides by 255 for a graph without rescaling', async () => {
    assertClose(await classify(withoutRescaling, 'auto'), expected(1 / 255), 'auto without a Rescaling layer');
  });

  it('applies an explicit scale as given', async () => {
    assertClose(await classify(withRescaling, 'unit'), expected(1 / 255 / 255), 'unit on top of a Rescaling layer');
    assertClose(await classify(withoutRescaling, 'none'), expected(1), 'none without a Rescaling layer');
  });
});
