import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generate } from 'selfsigned';
import { Agent, request } from 'undici';
import { EXAMPLE_IMAGES, TestCluster, TEST_TOKEN } from '../support/cluster.js';
import { DEMO_LABELS, DEMO_ONNX } from '../support/models.js';
import { freePort, startCli, stopProcess, waitForStatus, waitUntil, type CliProcess } from '../support/processes.js';

// Small and fast to load: the demonstration model as both tiers, on server 0 only.
const MODELS_TOML = `[Basic]
parent = 0
model = '${DEMO_ONNX}'
labels = ${JSON.stringify(DEMO_LABELS)}

[Second]
[Second.0]
parent = 0
model = '${DEMO_ONNX}'
labels = ["first", "second", "third"]
[Second.1]
parent = 0
model = '${DEMO_ONNX}'
labels = ["first", "second", "third"]
[Second.2]
parent = 0
model = '${DEMO_ONNX}'
labels = ["first", "second", "third"]

[Timing]
heartbeat_interval_ms = 250
engine_down_after_ms = 1500
`;

const PHOTO = readFileSync(join(EXAMPLE_IMAGES, 'bkl', 'ISIC_0025030.jpg'));

/** Starts the coordinator and engine 0 only: no model is placed on server 1, so the cluster is ready without it. */
async function startWithEngineZero(cluster: TestCluster): Promise<void> {
  await cluster.prepare();
  await cluster.startCoordinator(true);
  cluster.startEngine(0);
  await cluster.waitReady();
}

describe('cluster token', () => {
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }], MODELS_TOML);
  let intruder: CliProcess | null = null;

  before(() => startWithEngineZero(cluster));

  after(async () => {
    if (intruder !== null) await stopProcess(intruder);
    await cluster.stop();
  });

  it('rejects an engine with a wrong token and logs it', async () => {
    const port = await freePort('127.0.0.3');
    intruder = startCli(['engine', '--server', '1', '--coordinator', cluster.apiUrl, '--token', 'not-the-token', '--host', '127.0.0.3', '--port', String(port), '--data-dir', join(cluster.dataDir, 'intruder')]);
    await waitUntil('the coordinator to log the rejection', () => /invalid cluster token/.test(cluster.coordinator?.output() ?? ''));
    await waitUntil('the engine to log the failed report', () => /report to the coordinator failed/.test(intruder?.output() ?? ''));
    const view = (await (await request(`${cluster.apiUrl}/v1/cluster`)).body.json()) as { engines: { serverIndex: number }[] };
    assert.deepEqual(view.engines.map((engine) => engine.serverIndex), [0], 'the rejected engine never joined');
    assert.doesNotMatch(cluster.coordinator?.output() ?? '', /not-the-token/, 'the token is never logged');
  });

  it('rejects internal calls without the token', async () => {
    const report = await request(`${cluster.apiUrl}/internal/v1/engines/report`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(report.statusCode, 401);
    assert.equal(((await report.body.json()) as { code: string }).code, 'UNAUTHORIZED');

    const classify = await request(`http://${cluster.engineAddress(0)}/internal/v1/models/basic/classify`, { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg', authorization: 'Bearer wrong' } });
    assert.equal(classify.statusCode, 401);
    assert.equal(((await classify.body.json()) as { code: string }).code, 'UNAUTHORIZED');

    const allowed = await request(`http://${cluster.engineAddress(0)}/internal/v1/models/basic/classify`, { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg', authorization: `Bearer ${TEST_TOKEN}` } });
    assert.equal(allowed.statusCode, 200);
    const body = (await allowed.body.json()) as { probabilities: number[] };
    assert.equal(body.probabilities.length, 3);
  });

  it('keeps a given token across a restart without one', async () => {
    const stateDir = join(cluster.dataDir, 'state');
    if (cluster.coordinator !== null) await stopProcess(cluster.coordinator);
    const port = await freePort();
    const restarted = startCli(['coordinator', '--data-dir', stateDir, '--port', String(port)], { CASCADE_TOKEN: '' });
    try {
      await waitForStatus(`http://127.0.0.1:${port}/healthz`, 200, 30_000, restarted.output);
      const report = (token: string) => request(`http://127.0.0.1:${port}/internal/v1/engines/report`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` } });
      const withStored = await report(TEST_TOKEN);
      await withStored.body.dump();
      const withOther = await report('another-token');
      await withOther.body.dump();
      assert.notEqual(withStored.statusCode, 401, restarted.output());
      assert.equal(withOther.statusCode, 401);
      assert.equal(readFileSync(join(stateDir, 'token'), 'utf8').trim(), TEST_TOKEN);
      assert.equal(statSync(join(stateDir, 'token')).mode & 0o777, 0o600);
      assert.match(restarted.output(), /using the stored cluster token/);
    } finally {
      await stopProcess(restarted);
    }
  });
});

describe('two engines for one server', () => {
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }], MODELS_TOML);

  before(() => startWithEngineZero(cluster));

  after(async () => {
    await cluster.stop();
  });

  it('keeps a second engine as a standby and fences the first', async () => {
    const first = cluster.engines.get(0);
    assert.ok(first !== undefined);
    const clusterEngineAddress = async (): Promise<string | undefined> => {
      const view = await request(`${cluster.apiUrl}/v1/cluster`);
      const engines = ((await view.body.json()) as { engines: { serverIndex: number; address: string }[] }).engines;
      return engines.find((engine) => engine.serverIndex === 0)?.address;
    };
    const port = await freePort('127.0.0.4');
    const second = cluster.startEngine(0, '127.0.0.4', port);
    try {
      await waitUntil('the coordinator to turn the second engine away', () => /this one waits as a standby/.test(cluster.coordinator?.output() ?? ''));
      assert.notEqual(await clusterEngineAddress(), `127.0.0.4:${port}`, 'the live engine keeps the server');

      first.child.kill('SIGSTOP');
      await waitUntil('the standby to take over', async () => (await clusterEngineAddress()) === `127.0.0.4:${port}`, 20_000);
      await cluster.waitReady();
      const prediction = await request(`${cluster.apiUrl}/v1/predict`, { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg' } });
      await prediction.body.dump();
      assert.equal(prediction.statusCode, 200);

      first.child.kill('SIGCONT');
      const code = await Promise.race([first.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000))]);
      assert.equal(code, 1, first.output());
      assert.match(first.output(), /another engine took over this server; stopping/);
      assert.equal(await clusterEngineAddress(), `127.0.0.4:${port}`);
    } finally {
      first.child.kill('SIGCONT');
      await stopProcess(second);
    }
  });
});

describe('TLS between coordinator, engines and clients', () => {
  const cluster = new TestCluster([{ host: '127.0.0.2' }], MODELS_TOML);
  const processes: CliProcess[] = [];
  let agent: Agent;
  let apiUrl = '';

  before(async () => {
    const pems = await generate([{ name: 'commonName', value: 'cascade-test' }], {
      keySize: 2048,
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 7, ip: '127.0.0.2' }] },
      ],
    });
    const cert = join(cluster.dataDir, 'cert.pem');
    const key = join(cluster.dataDir, 'key.pem');
    writeFileSync(cert, pems.cert);
    writeFileSync(key, pems.private);
    agent = new Agent({ connect: { ca: pems.cert } });
    const tls = ['--tls-cert', cert, '--tls-key', key, '--tls-ca', cert];

    const configDir = join(cluster.dataDir, 'config');
    const apiPort = await freePort();
    const enginePort = await freePort('127.0.0.2');
    apiUrl = `https://127.0.0.1:${apiPort}`;
    const { mkdirSync } = await import('node:fs');
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'servers.toml'), `[Servers]\nnumber = 1\n[Servers.0]\nipv4 = "127.0.0.2"\nport = ${enginePort}\n`);
    writeFileSync(join(configDir, 'models.toml'), MODELS_TOML);

    processes.push(startCli(['coordinator', '--config', configDir, '--data-dir', join(cluster.dataDir, 'state'), '--port', String(apiPort), '--token', TEST_TOKEN, ...tls]));
    processes.push(startCli(['engine', '--server', '0', '--coordinator', apiUrl, '--token', TEST_TOKEN, '--host', '127.0.0.2', '--port', String(enginePort), '--data-dir', join(cluster.dataDir, 'engine'), ...tls]));
    await waitUntil('the TLS cluster to be ready', async () => {
      const response = await request(`${apiUrl}/readyz`, { dispatcher: agent });
      await response.body.dump();
      return response.statusCode === 200;
    }, 60_000).catch((error: unknown) => {
      throw new Error(`${String(error)}\n${processes.map((process) => process.output()).join('\n')}`);
    });
  });

  after(async () => {
    for (const process of processes) await stopProcess(process);
    await agent.close();
    await cluster.stop();
  });

  it('classifies over HTTPS end to end', async () => {
    const response = await request(`${apiUrl}/v1/predict`, { method: 'POST', body: PHOTO, headers: { 'content-type': 'image/jpeg' }, dispatcher: agent });
    const body = (await response.body.json()) as { category: string; predetection: unknown[] };
    assert.equal(response.statusCode, 200, JSON.stringify(body));
    assert.ok(DEMO_LABELS.includes(body.category));
    assert.equal(body.predetection.length, 3);
  });

  it('refuses plain HTTP on the TLS port', async () => {
    await assert.rejects(request(apiUrl.replace('https:', 'http:') + '/healthz', { signal: AbortSignal.timeout(3_000) }));
  });
});
