import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { EXAMPLE_IMAGES, TestCluster } from '../support/cluster.js';
import { exampleModelsToml } from '../support/models.js';
import { stopProcess } from '../support/processes.js';

interface ClusterView {
  servers: { index: number; ipv4: string; port: number }[];
  models: { id: string; tier: string; category: number | null; parents: number[] }[];
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const response = await request(url);
  return { status: response.statusCode, body: await response.body.json() };
}

describe('coordinator state', () => {
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }], exampleModelsToml('[Timing]\nheartbeat_interval_ms = 300\n'));

  after(() => cluster.stop());

  it('is not ready until every placed model is loaded', async () => {
    await cluster.start();
    await stopProcess(cluster.coordinator ?? assert.fail('no coordinator'));
    for (const engine of cluster.engines.values()) await stopProcess(engine);

    await cluster.startCoordinator(true);
    const { status, body } = await getJson(`${cluster.apiUrl}/readyz`);
    assert.equal(status, 503);
    assert.equal((body as { ready: boolean }).ready, false);
    assert.match((body as { reason: string }).reason, /basic/);

    for (const index of [0, 1]) cluster.startEngine(index);
    await cluster.waitReady();
  });

  it('comes back with the same cluster without the TOML files', async () => {
    const before = (await getJson(`${cluster.apiUrl}/v1/cluster`)).body as ClusterView;
    await stopProcess(cluster.coordinator ?? assert.fail('no coordinator'));

    await cluster.startCoordinator(false);
    await cluster.waitReady(30_000);
    const afterRestart = (await getJson(`${cluster.apiUrl}/v1/cluster`)).body as ClusterView;
    assert.deepEqual(afterRestart.servers, before.servers);
    assert.deepEqual(afterRestart.models, before.models);
    assert.deepEqual(afterRestart.models.map((model) => model.id).sort(), ['basic', 'second-1', 'second-6']);

    const photo = readFileSync(join(EXAMPLE_IMAGES, 'mel', 'ISIC_0025744.jpg'));
    const response = await request(`${cluster.apiUrl}/v1/predict`, { method: 'POST', body: photo, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(response.statusCode, 200);
    assert.equal(((await response.body.json()) as { category: string }).category, 'Melanoma');
  });

  it('refuses to start without a stored cluster or a config', async () => {
    const emptyDir = join(cluster.dataDir, 'empty-state');
    const { runCli } = await import('../support/processes.js');
    const result = await runCli(['coordinator', '--data-dir', emptyDir, '--port', '0']);
    assert.equal(result.code, 1);
    assert.match(result.output, /CONFIG_NOT_FOUND/);
    assert.match(result.output, /--config/);
  });
});
