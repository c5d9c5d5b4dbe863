import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { request } from 'undici';
import { EXAMPLE_IMAGES, TestCluster } from '../support/cluster.js';
import { LoadGenerator, sameAnswer, type LoadTarget } from '../support/load.js';
import { exampleModelsToml } from '../support/models.js';
import { freePort, runCli, stopProcess, waitForStatus, waitUntil } from '../support/processes.js';
import { ReferenceCascade } from '../support/reference.js';

// Every model has two replicas on three engines, so any single engine can die.
const MODELS_TOML = exampleModelsToml(`
[Timing]
heartbeat_interval_ms = 250
engine_down_after_ms = 1500
inference_timeout_ms = 3000
`, { basic: '[0, 1]', melanoma: '[1, 2]', basalCell: '[2, 0]' });

/** Failures allowed while one switch happens (requests in flight when a process dies). */
const MAX_FAILURES_PER_SWITCH = 20;
/** Transport errors of a client whose target process is down: counted and reported, not bounded. */
const TARGET_DOWN_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'UND_ERR_SOCKET']);

interface ClusterView {
  servers: { index: number; ipv4: string; port: number }[];
  engines: { serverIndex: number; state: string; address: string }[];
  placements: { modelId: string; serverIndex: number; ready: boolean }[];
}

async function clusterView(url: string): Promise<ClusterView> {
  const response = await request(`${url}/v1/cluster`);
  return (await response.body.json()) as ClusterView;
}

function pickPhotos(): Buffer[] {
  const folders = ['mel', 'bcc', 'nv', 'bkl', 'mel', 'bcc'];
  return folders.map((folder, index) => {
    const names = readdirSync(join(EXAMPLE_IMAGES, folder)).filter((name) => name.endsWith('.jpg'));
    return readFileSync(join(EXAMPLE_IMAGES, folder, names[index % names.length] ?? ''));
  });
}

describe('fleet of three engines', () => {
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }, { host: '127.0.0.4' }], MODELS_TOML);
  cluster.engineArgs = ['--serve-predict'];
  let reference: ReferenceCascade;
  let targets: LoadTarget[] = [];

  const allConverged = async (): Promise<boolean> => {
    const view = await clusterView(cluster.apiUrl);
    return view.engines.length === 3 && view.engines.every((engine) => engine.state === 'up') && view.placements.every((placement) => placement.ready);
  };

  /**
   * Runs `action` under load sent to each URL and checks that no 200 response was wrong and
   * that failures stayed bounded. Connection errors while a client's own target process
   * is down are counted and reported apart, since no server can respond to them.
   */
  async function underLoad(t: TestContext, name: string, action: () => Promise<void>, urls: Record<string, () => string> = { coordinator: () => cluster.apiUrl }): Promise<void> {
    const loads = Object.entries(urls).map(([label, url]) => ({ label, load: new LoadGenerator(url, targets, sameAnswer) }));
    for (const { load } of loads) load.start();
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      await action();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      await Promise.all(loads.map(({ load }) => load.stop()));
    }
    for (const { label, load } of loads) {
      const counts = load.counts;
      const targetDown = Object.entries(counts.failed).filter(([code]) => TARGET_DOWN_CODES.has(code)).reduce((total, [, count]) => total + count, 0);
      const bounded = load.failures - targetDown;
      t.diagnostic(`${name} (load on ${label}): ${counts.ok} correct, ${counts.wrong} wrong, ${bounded} failed answers, ${targetDown} refused while the target was down ${JSON.stringify(counts.failed)}`);
      assert.equal(counts.wrong, 0, `${name} (${label}): 200 answers that differ from the reference: ${counts.wrongSamples.join('\n')}`);
      assert.ok(bounded <= MAX_FAILURES_PER_SWITCH, `${name} (${label}): ${bounded} failed requests, more than ${MAX_FAILURES_PER_SWITCH}: ${JSON.stringify(counts.failed)} ${JSON.stringify(counts.failureSamples)}`);
      assert.ok(counts.ok > 0, `${name} (${label}): no request succeeded`);
    }
  }

  const engineUrl = (index: number) => (): string => {
    const engine = cluster.engineAddress(index);
    return `http://${engine}`;
  };

  before(async () => {
    await cluster.start();
    reference = await ReferenceCascade.load(cluster.configDir, cluster.dataDir);
    targets = await Promise.all(pickPhotos().map(async (bytes) => ({ bytes, expected: await reference.predict(bytes) })));
  });

  after(async () => {
    await reference.close();
    await cluster.stop();
  });

  it('spreads requests over replicas', async () => {
    await waitUntil('every engine up and every placement ready', allConverged);
    const view = await clusterView(cluster.apiUrl);
    assert.deepEqual(view.placements.map((placement) => `${placement.modelId}@${placement.serverIndex}`).sort(), ['basic@0', 'basic@1', 'second-1@0', 'second-1@2', 'second-6@1', 'second-6@2']);
  });

  it('survives kill -9 of an engine under load', async (t) => {
    await underLoad(t, 'kill -9 engine 1', async () => {
      const engine = cluster.engines.get(1);
      assert.ok(engine !== undefined);
      engine.child.kill('SIGKILL');
      await engine.exited;
      await waitUntil('engine 1 marked down', async () => (await clusterView(cluster.apiUrl)).engines.find((entry) => entry.serverIndex === 1)?.state === 'down', 10_000);
    });
    const view = await clusterView(cluster.apiUrl);
    assert.equal(view.placements.filter((placement) => placement.serverIndex === 1).every((placement) => !placement.ready), true, 'a dead engine shows nothing ready');
  });

  it('follows an engine that comes back on another address', async (t) => {
    const newHost = '127.0.0.5';
    const newPort = await freePort(newHost);
    await underLoad(t, 'engine 1 back on a new address', async () => {
      cluster.startEngine(1, newHost, newPort);
      await waitUntil('every placement ready again', allConverged, 60_000);
    });
    const view = await clusterView(cluster.apiUrl);
    assert.deepEqual(view.servers.find((server) => server.index === 1), { index: 1, ipv4: newHost, port: newPort, name: 'server-1' });
    assert.equal(view.engines.find((engine) => engine.serverIndex === 1)?.address, `${newHost}:${newPort}`);

    const exported = await runCli(['config', 'export', '--data-dir', join(cluster.dataDir, 'state')]);
    assert.equal(exported.code, 0, exported.output);
    assert.match(exported.output, new RegExp(`\\[Servers\\.1\\]\\s*\\nipv4 = "${newHost.replace(/\./g, '\\.')}"`));
    assert.match(exported.output, new RegExp(`port = ${newPort}`));
  });

  it('keeps predicting through engines while the coordinator restarts', async (t) => {
    const direct = await request(`${engineUrl(0)()}/v1/predict`, { method: 'POST', body: targets[0]?.bytes, headers: { 'content-type': 'image/jpeg' } });
    assert.equal(direct.statusCode, 200);
    assert.ok(sameAnswer(await direct.body.json(), targets[0]?.expected), 'an engine answers like the coordinator');

    await underLoad(t, 'coordinator down', async () => {
      await stopProcess(cluster.coordinator ?? assert.fail('no coordinator'));
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }, { 'engine 0': engineUrl(0) });

    await underLoad(t, 'coordinator restart', async () => {
      await cluster.startCoordinator(false);
      await waitUntil('cluster converged after the coordinator restart', allConverged, 30_000);
    }, { coordinator: () => cluster.apiUrl, 'engine 0': engineUrl(0) });
  });

  it('converges after coordinator and engine restart together, coordinator first', async (t) => {
    await underLoad(t, 'coordinator and engine 2 restart, coordinator first', async () => {
      const engine = cluster.engines.get(2);
      assert.ok(engine !== undefined);
      engine.child.kill('SIGKILL');
      cluster.coordinator?.child.kill('SIGKILL');
      await Promise.all([engine.exited, cluster.coordinator?.exited]);
      await cluster.startCoordinator(false);
      cluster.startEngine(2);
      await waitUntil('cluster converged', allConverged, 60_000);
    }, { coordinator: () => cluster.apiUrl, 'engine 0': engineUrl(0) });
  });

  it('converges after coordinator and engine restart together, engine first', async (t) => {
    await underLoad(t, 'coordinator and engine 0 restart, engine first', async () => {
      const engine = cluster.engines.get(0);
      assert.ok(engine !== undefined);
      engine.child.kill('SIGKILL');
      cluster.coordinator?.child.kill('SIGKILL');
      await Promise.all([engine.exited, cluster.coordinator?.exited]);
      cluster.startEngine(0);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      await cluster.startCoordinator(false);
      await waitUntil('cluster converged', allConverged, 60_000);
    }, { coordinator: () => cluster.apiUrl, 'engine 1': engineUrl(1) });
    await waitForStatus(`${cluster.apiUrl}/readyz`, 200, 10_000, () => cluster.output());
  });
});
