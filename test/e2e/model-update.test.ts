import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { EXAMPLE_IMAGES, TEST_TOKEN, TestCluster } from '../support/cluster.js';
import { BEST_MODEL, CATEGORIES_FILE, SKIN_MODEL } from '../support/models.js';
import { runCli, stopProcess, waitUntil } from '../support/processes.js';

const PHOTO = readFileSync(join(EXAMPLE_IMAGES, 'mel', 'ISIC_0025744.jpg'));

function modelsToml(basicModel: string, labels = `labels_file = '${CATEGORIES_FILE}'`): string {
  return `[Basic]
parent = 0
model = '${basicModel}'
${labels}
input_size = 28
resize = "nearest"

[Timing]
heartbeat_interval_ms = 250
`;
}

interface Placement {
  modelId: string;
  state: string;
  reason: string;
}

async function predict(url: string): Promise<{ category: string; propability: number }> {
  const response = await request(`${url}/v1/predict`, { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg' } });
  const body = (await response.body.json()) as { category: string; propability: number };
  assert.equal(response.statusCode, 200, JSON.stringify(body));
  return body;
}

async function basicPlacement(url: string): Promise<Placement> {
  const view = (await (await request(`${url}/v1/cluster`)).body.json()) as { placements: Placement[] };
  const placement = view.placements.find((entry) => entry.modelId === 'basic');
  assert.ok(placement !== undefined);
  return placement;
}

describe('model updates', () => {
  const cluster = new TestCluster([{ host: '127.0.0.2' }], modelsToml(BEST_MODEL));
  let original: { category: string; propability: number };

  /** Applies a new models file by restarting the coordinator with --config, as an operator would. */
  async function apply(toml: string): Promise<void> {
    writeFileSync(join(cluster.configDir, 'models.toml'), toml);
    await stopProcess(cluster.coordinator ?? assert.fail('no coordinator'));
    await cluster.startCoordinator(true);
  }

  before(async () => {
    await cluster.start();
    original = await predict(cluster.apiUrl);
  });

  after(() => cluster.stop());

  it('keeps serving the loaded version when the new file is truncated', async () => {
    const truncated = join(cluster.dataDir, 'truncated.h5');
    writeFileSync(truncated, readFileSync(BEST_MODEL).subarray(0, 100_000));
    await apply(modelsToml(truncated));
    await waitUntil('the failed load to be reported', async () => /failed/.test((await basicPlacement(cluster.apiUrl)).reason));
    const placement = await basicPlacement(cluster.apiUrl);
    assert.equal(placement.state, 'ready', 'the previous version still serves');
    assert.match(placement.reason, /previous version/);
    assert.deepEqual(await predict(cluster.apiUrl), original);
  });

  it('keeps serving when the new labels do not match the outputs', async () => {
    await apply(modelsToml(BEST_MODEL, 'labels = ["one", "two", "three"]'));
    await waitUntil('the label mismatch to be reported', async () => /3 labels/.test((await basicPlacement(cluster.apiUrl)).reason));
    const placement = await basicPlacement(cluster.apiUrl);
    assert.equal(placement.state, 'ready');
    assert.match(placement.reason, /7 output classes/);
    assert.deepEqual(await predict(cluster.apiUrl), original);
  });

  it('swaps to a new version once it is loaded', async () => {
    const replacement = join(cluster.dataDir, 'skin.h5');
    copyFileSync(SKIN_MODEL, replacement);
    await apply(modelsToml(replacement));
    await waitUntil('the new version to serve', async () => (await predict(cluster.apiUrl)).propability !== original.propability);
    const updated = await predict(cluster.apiUrl);
    assert.equal(updated.category, 'Melanoma');
    assert.notEqual(updated.propability, original.propability);
    const placement = await basicPlacement(cluster.apiUrl);
    assert.equal(placement.state, 'ready');
    assert.doesNotMatch(placement.reason, /previous version/);
  });

  it('applies a new model without restarting the coordinator', async () => {
    const coordinatorPid = cluster.coordinator?.child.pid;
    writeFileSync(join(cluster.configDir, 'models.toml'), modelsToml(BEST_MODEL));
    const result = await runCli(['config', 'apply', '--config', cluster.configDir, '--coordinator', cluster.apiUrl, '--token', TEST_TOKEN]);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /added none; changed basic; removed none/);
    await waitUntil('the original version to serve again', async () => (await predict(cluster.apiUrl)).propability === original.propability);
    assert.deepEqual(await predict(cluster.apiUrl), original);
    assert.equal(cluster.coordinator?.child.pid, coordinatorPid);
    assert.equal(cluster.coordinator?.child.exitCode, null, 'the coordinator kept running');
  });

  it('rejects an invalid config before sending it', async () => {
    const broken = join(cluster.dataDir, 'broken-config');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'cluster.toml'), `[Servers]\nnumber = 1\n[Servers.0]\nipv4 = "127.0.0.2"\n\n[Basic]\nparent = 4\nmodel = '${BEST_MODEL}'\n`);
    const result = await runCli(['config', 'apply', '--config', broken, '--coordinator', cluster.apiUrl, '--token', TEST_TOKEN]);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /CONFIG_INVALID/);
    assert.match(result.output, /cluster\.toml:7: Basic\.parent/);
    assert.deepEqual(await predict(cluster.apiUrl), original, 'the cluster is unchanged');
  });

  it('answers an invalid config over the API with 422', async () => {
    const response = await request(`${cluster.apiUrl}/internal/v1/config`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_TOKEN}` },
      body: JSON.stringify({ files: [{ name: 'models.toml', text: '[Basic]\nparent = 0\nmodel = \n' }] }),
    });
    const body = (await response.body.json()) as { code: string; message: string };
    assert.equal(response.statusCode, 422, JSON.stringify(body));
    assert.equal(body.code, 'CONFIG_INVALID');
    assert.match(body.message, /models\.toml:3/);
    assert.deepEqual(await predict(cluster.apiUrl), original, 'the cluster is unchanged');
  });

  it('rejects an apply without the token', async () => {
    const result = await runCli(['config', 'apply', '--config', cluster.configDir, '--coordinator', cluster.apiUrl, '--token', 'wrong-token']);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /UNAUTHORIZED/);
  });

  it('marks a broken file failed when no version was loaded', async () => {
    const textFile = join(cluster.dataDir, 'not-a-model.h5');
    writeFileSync(textFile, 'this is a text file, not a model\n');
    await stopProcess(cluster.engines.get(0) ?? assert.fail('no engine'));
    await apply(modelsToml(textFile));
    cluster.startEngine(0);
    await waitUntil('the load to fail', async () => (await basicPlacement(cluster.apiUrl)).state === 'failed');
    assert.match((await basicPlacement(cluster.apiUrl)).reason, /not recognised|not retried/);
    const response = await request(`${cluster.apiUrl}/v1/predict`, { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(response.statusCode, 503);
    assert.equal(((await response.body.json()) as { code: string }).code, 'TIER1_UNAVAILABLE');
  });
});
