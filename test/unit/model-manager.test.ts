import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelConfig } from '../../src/config/types.js';
import { ModelManager } from '../../src/engine/model-manager.js';
import type { LoadedModel } from '../../src/runtime/loaded-model.js';
import type { LoadOptions } from '../../src/runtime/loader.js';
import { CascadeError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import { defaultSourceSettings } from '../../src/sources/index.js';

function modelConfig(id: string): ModelConfig {
  return {
    id, tier: 'basic', parents: [0], source: '/models/m.onnx', sha256: null, format: 'onnx', category: null, categoryName: null, labels: ['a', 'b'],
    preprocessing: { width: 4, height: 4, resize: 'bilinear', scaling: { mode: 'unit', mean: [0, 0, 0], std: [1, 1, 1] }, channelOrder: 'rgb', layout: 'nhwc' },
    output: 'auto',
  };
}

/** Builds a LoadedModel stand-in that returns fixed probabilities and records whether it was closed. */
function fakeModel(id: string, version: string, probabilities: number[]): LoadedModel & { closed: boolean } {
  const fake = {
    closed: false,
    id,
    descriptor: { id, version, inputWidth: 4, inputHeight: 4, resize: 'bilinear' as const, labels: ['a', 'b'] },
    classify: async () => probabilities,
    close: async () => {
      fake.closed = true;
    },
  };
  return fake as unknown as LoadedModel & { closed: boolean };
}

function manager(load: (config: ModelConfig, options: LoadOptions) => Promise<LoadedModel>, loadTimeoutMs = 1_000): ModelManager {
  return new ModelManager({ loadOptions: { sources: defaultSourceSettings('/tmp/unused'), session: { intraOpThreads: 1 } }, loadTimeoutMs, logger: silentLogger(), load });
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const image = { data: Buffer.alloc(4 * 4 * 3), width: 4, height: 4 };

describe('ModelManager', () => {
  it('reports ready only after the load finishes', async () => {
    let finish: (model: LoadedModel) => void = () => undefined;
    const models = manager(() => new Promise((resolve) => (finish = resolve)));
    models.reconcile([{ model: modelConfig('basic'), configHash: 'h1' }]);
    assert.equal(models.report()[0]?.state, 'pending');
    assert.equal(models.allReady(), false);
    await assert.rejects(models.classify('basic', image), (error) => error instanceof CascadeError && error.code === 'MODEL_NOT_READY');

    finish(fakeModel('basic', 'v1', [0.3, 0.7]));
    await until(() => models.allReady(), 'ready');
    assert.deepEqual((await models.classify('basic', image)).probabilities, [0.3, 0.7]);
    await models.close();
  });

  it('marks a load that never finishes as failed, then retries it', async () => {
    let attempts = 0;
    const models = manager((_config, options) => {
      attempts += 1;
      if (attempts === 1) {
        // Never resolves on its own: only the load timeout ends it.
        return new Promise((_resolve, reject) => options.signal?.addEventListener('abort', () => reject(options.signal?.reason)));
      }
      return Promise.resolve(fakeModel('basic', 'v1', [0.5, 0.5]));
    }, 50);
    models.reconcile([{ model: modelConfig('basic'), configHash: 'h1' }]);
    await until(() => models.report()[0]?.state === 'failed', 'the load to time out');
    assert.match(models.report()[0]?.reason ?? '', /load_timeout_ms \(50 ms\)/);
    assert.match(models.report()[0]?.reason ?? '', /retried in/);

    models.retryFailedLoads(Date.now() + 60_000);
    await until(() => models.allReady(), 'the retried load');
    assert.equal(attempts, 2);
    await models.close();
  });

  it('does not retry a broken file', async () => {
    let attempts = 0;
    const models = manager(async () => {
      attempts += 1;
      throw new CascadeError('MODEL_LOAD_FAILED', 'not an HDF5 file');
    });
    models.reconcile([{ model: modelConfig('basic'), configHash: 'h1' }]);
    await until(() => models.report()[0]?.state === 'failed', 'failure');
    assert.match(models.report()[0]?.reason ?? '', /not retried/);
    models.retryFailedLoads(Date.now() + 3_600_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(attempts, 1);
    await models.close();
  });

  it('swaps versions without a gap', async () => {
    const first = fakeModel('basic', 'v1', [0.9, 0.1]);
    const second = fakeModel('basic', 'v2', [0.2, 0.8]);
    let finishSecond: (model: LoadedModel) => void = () => undefined;
    const models = manager(async (config) => (config.source.endsWith('v2.onnx') ? new Promise((resolve) => (finishSecond = resolve)) : first));
    models.reconcile([{ model: modelConfig('basic'), configHash: 'h1' }]);
    await until(() => models.allReady(), 'first version');

    models.reconcile([{ model: { ...modelConfig('basic'), source: '/models/v2.onnx' }, configHash: 'h2' }]);
    assert.equal(models.report()[0]?.state, 'ready', 'the replica stays ready while the new version loads');
    assert.equal((await models.classify('basic', image)).version, 'v1');

    finishSecond(second);
    await until(() => models.get('basic') === second, 'second version');
    assert.equal((await models.classify('basic', image)).version, 'v2');
    await until(() => first.closed, 'the old version to be closed');
    await models.close();
    assert.equal(second.closed, true);
  });

  it('keeps the old version when the new one fails', async () => {
    const first = fakeModel('basic', 'v1', [0.9, 0.1]);
    const models = manager(async (config) => {
      if (config.source.endsWith('broken.h5')) throw new CascadeError('MODEL_LOAD_FAILED', 'truncated file');
      return first;
    });
    models.reconcile([{ model: modelConfig('basic'), configHash: 'h1' }]);
    await until(() => models.allReady(), 'first version');
    models.reconcile([{ model: { ...modelConfig('basic'), source: '/models/broken.h5' }, configHash: 'h2' }]);
    await until(() => /failed/.test(models.report()[0]?.reason ?? ''), 'the failure to be reported');
    assert.equal(models.report()[0]?.state, 'ready');
    assert.match(models.report()[0]?.reason ?? '', /truncated file/);
    assert.equal((await models.classify('basic', image)).version, 'v1');
    assert.equal(first.closed, false);
    await models.close();
  });

  it('unloads a model that is no longer assigned', async () => {
    const model = fakeModel('basic', 'v1', [0.5, 0.5]);
    const models = manager(async () => model);
    models.reconcile([{ model: modelConfig('basic'), configHash: 'h1' }]);
    await until(() => models.allReady(), 'ready');
    models.reconcile([]);
    assert.deepEqual(models.report(), []);
    await until(() => model.closed, 'unload');
    await assert.rejects(models.classify('basic', image), (error) => error instanceof CascadeError && error.code === 'MODEL_NOT_FOUND');
    await models.close();
  });
});
