import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, REPO_ROOT, runCli, startCli, stopProcess, waitForStatus, waitUntil } from '../support/processes.js';

function portIsOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('cascade CLI', () => {
  const folder = mkdtempSync(join(tmpdir(), 'cascade-cli-'));
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('refuses an invalid configuration before starting anything', async () => {
    const port = await freePort();
    const config = join(folder, 'cluster.toml');
    writeFileSync(config, `[Servers]\nnumber = 1\n[Servers.0]\nipv4 = "127.0.0.2"\n\n[Basic]\nparent = 3\nmodel = 'model.h5'\n`);
    const result = await runCli(['up', '--config', config, '--port', String(port), '--data-dir', join(folder, 'state')]);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /CONFIG_INVALID/);
    assert.match(result.output, /cluster\.toml:7/, 'names the file and line');
    assert.match(result.output, /Basic\.parent/, 'names the key');
    assert.match(result.output, /3/, 'shows the value found');
    assert.equal(await portIsOpen(port), false, 'no coordinator was started');
  });

  it('stops its processes when the cluster is not ready in time', async () => {
    const port = await freePort();
    const result = await runCli(['up', '--config', join(REPO_ROOT, 'examples', 'local'), '--port', String(port), '--data-dir', join(folder, 'timeout'), '--ready-timeout', '0']);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /Timed out after 0 ms waiting for every model/);
    assert.equal(await portIsOpen(port), false, 'the coordinator was stopped');
    assert.equal(await portIsOpen(7100, '127.0.0.2'), false, 'engine 0 was stopped');
    assert.equal(await portIsOpen(7101, '127.0.0.3'), false, 'engine 1 was stopped');
  });

  it('stops the cluster when the launcher is killed', async () => {
    const port = await freePort();
    const launcher = startCli(['up', '--config', join(REPO_ROOT, 'examples', 'local'), '--port', String(port), '--data-dir', join(folder, 'orphans')]);
    try {
      await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200, 120_000, launcher.output);
      launcher.child.kill('SIGKILL');
      await launcher.exited;
      await waitUntil('the coordinator to stop', async () => !(await portIsOpen(port)));
      await waitUntil('engine 0 to stop', async () => !(await portIsOpen(7100, '127.0.0.2')));
      await waitUntil('engine 1 to stop', async () => !(await portIsOpen(7101, '127.0.0.3')));
    } finally {
      await stopProcess(launcher);
    }
    assert.match(launcher.output(), /launcher exited/);
  });

  it('restarts an engine that dies', async () => {
    const port = await freePort();
    const launcher = startCli(['up', '--config', join(REPO_ROOT, 'examples', 'local'), '--port', String(port), '--data-dir', join(folder, 'restart')]);
    const readyUrl = `http://127.0.0.1:${port}/readyz`;
    try {
      await waitForStatus(readyUrl, 200, 120_000, launcher.output);
      const enginePids = (): number[] => [...launcher.output().matchAll(/"process":"engine-1","childPid":(\d+)/g)].map((match) => Number(match[1]));
      const [firstPid] = enginePids();
      assert.ok(firstPid !== undefined, `no pid logged for engine-1:\n${launcher.output()}`);
      process.kill(firstPid, 'SIGKILL');
      await waitUntil('engine-1 to start again', () => enginePids().length === 2, 30_000);
      await waitForStatus(readyUrl, 200, 120_000, launcher.output);
      assert.match(launcher.output(), /"process":"engine-1".*restarting it/);
      assert.equal(launcher.child.exitCode, null, 'the launcher exited');
    } finally {
      await stopProcess(launcher);
    }
    assert.equal(await portIsOpen(port), false, 'the coordinator was stopped');
    assert.equal(await portIsOpen(7101, '127.0.0.3'), false, 'the restarted engine was stopped');
  });

  it('refuses to start over a port in use', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const address = blocker.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const result = await runCli(['up', '--config', join(REPO_ROOT, 'examples', 'local'), '--port', String(port), '--data-dir', join(folder, 'busy')]);
    blocker.close();
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, new RegExp(`already listens on 127\\.0\\.0\\.1:${port}`));
    assert.match(result.output, /--port/);
  });

  it('checks the example configuration', async () => {
    const result = await runCli(['config', 'check', '--config', join(REPO_ROOT, 'examples', 'local')]);
    assert.equal(result.code, 0, result.output);
    assert.match(result.output, /valid: 2 servers, 3 models/);
    assert.match(result.output, /second-1 for category 1 \(Basal cell carcinoma\)/);
  });

  it('export names a missing data folder', async () => {
    const missing = join(folder, 'no-such-state');
    const result = await runCli(['config', 'export', '--data-dir', missing]);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /CONFIG_NOT_FOUND/);
    assert.match(result.output, /no-such-state/);
    assert.equal(existsSync(missing), false, 'export created the folder');
  });

  it('engine rejects a coordinator URL without a scheme', async () => {
    const result = await runCli(['engine', '--server', '0', '--coordinator', '127.0.0.1:18080']);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /--coordinator '127\.0\.0\.1:18080' is not an http or https URL/);
  });

  it('engine listens on the --advertise port', async () => {
    const port = await freePort('127.0.0.6');
    const unusedCoordinator = `http://127.0.0.1:${await freePort()}`;
    const engine = startCli(['engine', '--server', '0', '--coordinator', unusedCoordinator, '--token', 't', '--host', '127.0.0.6', '--advertise', `127.0.0.6:${port}`, '--data-dir', join(folder, 'advertise')]);
    try {
      await waitUntil('the engine to listen on the advertised port', () => portIsOpen(port, '127.0.0.6'), 30_000);
    } finally {
      await stopProcess(engine);
    }
    assert.match(engine.output(), new RegExp(`"address":"127\\.0\\.0\\.6:${port}"`));
  });

  it('engine rejects an --advertise without a port', async () => {
    const result = await runCli(['engine', '--server', '0', '--coordinator', 'http://127.0.0.1:1', '--advertise', '10.0.0.11']);
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /'10\.0\.0\.11' is not host:port/);
  });

  it('prints help for every command', async () => {
    for (const command of ['up', 'coordinator', 'engine', 'inspect', 'config']) {
      const result = await runCli([command, '--help']);
      assert.equal(result.code, 0, `${command}: ${result.output}`);
      assert.match(result.output, /Usage: cascade/);
    }
  });

  it('rejects an unknown option with its name', async () => {
    const result = await runCli(['up', '--confg', 'examples/local']);
    assert.notEqual(result.code, 0);
    assert.match(result.output, /--confg/);
  });
});
