import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, describe, it } from 'node:test';
import { EngineClient } from '../../src/pipeline/engine-client.js';
import { RemoteExecutor } from '../../src/pipeline/remote-executor.js';
import { CascadeError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import { captureLogs } from '../support/log-capture.js';
import type { RoutingTable } from '../../src/shared/protocol.js';

interface FakeEngine {
  address: string;
  calls: number;
  /** Requests whose connection the client closed before a response was sent. */
  aborted: number;
  server: Server;
}

/** Starts a loopback server in place of an engine's classify endpoint. */
async function fakeEngine(handler: (request: IncomingMessage, response: ServerResponse, engine: FakeEngine) => void): Promise<FakeEngine> {
  const engine: FakeEngine = { address: '', calls: 0, aborted: 0, server: createServer() };
  engine.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    engine.calls += 1;
    request.resume();
    response.on('close', () => {
      if (!response.writableFinished) engine.aborted += 1;
    });
    handler(request, response, engine);
  });
  await new Promise<void>((resolve) => engine.server.listen(0, '127.0.0.1', resolve));
  const bound = engine.server.address();
  engine.address = `127.0.0.1:${typeof bound === 'object' && bound !== null ? bound.port : 0}`;
  return engine;
}

function answer(probabilities: number[]) {
  return (_request: IncomingMessage, response: ServerResponse): void => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ modelId: 'basic', version: 'v1', probabilities }));
  };
}

function table(addresses: string[]): RoutingTable {
  return {
    revision: 1,
    basicModelId: 'basic',
    categories: {},
    routes: {
      basic: {
        modelId: 'basic',
        descriptor: { id: 'basic', version: 'v1', inputWidth: 4, inputHeight: 4, resize: 'bilinear', labels: ['a', 'b'] },
        replicas: addresses.map((address, serverIndex) => ({ serverIndex, address })),
      },
    },
  };
}

const image = { data: Buffer.alloc(8 * 8 * 3, 100), width: 8, height: 8 };
const context = { requestId: 'req-1', tier: 'tier1' as const };

describe('RemoteExecutor', () => {
  const engines: FakeEngine[] = [];
  const client = new EngineClient({ token: 't', timeoutMs: 300, connectionsPerEngine: 4, tls: null });
  after(async () => {
    await client.close();
    for (const engine of engines) engine.server.close();
  });

  it('cancels a call that times out and retries it on another replica', async () => {
    const slow = await fakeEngine(() => undefined);
    const fast = await fakeEngine(answer([0.25, 0.75]));
    engines.push(slow, fast);
    // Ties go to the first replica, so the first call tries the slow engine first.
    const executor = new RemoteExecutor(client, () => table([slow.address, fast.address]), silentLogger(), () => 0);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      assert.deepEqual(await executor.classify('basic', image, context), [0.25, 0.75]);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(slow.calls, 1, 'after its timeout the slow engine is tried last');
    assert.equal(slow.aborted, 1, 'the timed-out call was cancelled');
    assert.equal(fast.calls, 3);
  });

  it('tries an unreachable replica last', async () => {
    const dead = await fakeEngine(answer([1, 0]));
    const deadAddress = dead.address;
    await new Promise((resolve) => dead.server.close(resolve));
    const alive = await fakeEngine(answer([0.4, 0.6]));
    engines.push(alive);
    const logs = captureLogs();
    // Ties go to the dead replica, so only the suspect ordering keeps calls away from it.
    const executor = new RemoteExecutor(client, () => table([deadAddress, alive.address]), logs.logger, () => 0);
    for (let attempt = 0; attempt < 4; attempt += 1) {
      assert.deepEqual(await executor.classify('basic', image, context), [0.4, 0.6]);
    }
    const failedCalls = logs.lines.filter((line) => line.msg === 'engine call failed; trying another replica').map((line) => line.engine);
    assert.deepEqual(failedCalls, [deadAddress], 'only the first call went to the dead replica');
    assert.equal(alive.calls, 4);
  });

  it('names every replica when all fail', async () => {
    const broken = (_request: IncomingMessage, response: ServerResponse): void => {
      response.statusCode = 500;
      response.end(JSON.stringify({ code: 'INFERENCE_FAILED', message: 'model crashed' }));
    };
    const first = await fakeEngine(broken);
    const second = await fakeEngine(broken);
    engines.push(first, second);
    const executor = new RemoteExecutor(client, () => table([first.address, second.address]), silentLogger());
    await assert.rejects(executor.classify('basic', image, context), (error) => {
      assert.ok(error instanceof CascadeError);
      assert.equal(error.code, 'TIER1_FAILED');
      assert.ok(error.message.includes(`${first.address}: model crashed`), error.message);
      assert.ok(error.message.includes(`${second.address}: model crashed`), error.message);
      assert.deepEqual([...(error.details.engines as string[])].sort(), [first.address, second.address].sort());
      return true;
    });
  });

  it('answers ENGINE_TIMEOUT naming the stage when every replica times out', async () => {
    const slowOne = await fakeEngine(() => undefined);
    const slowTwo = await fakeEngine(() => undefined);
    engines.push(slowOne, slowTwo);
    const executor = new RemoteExecutor(client, () => table([slowOne.address, slowTwo.address]), silentLogger());
    await assert.rejects(executor.classify('basic', image, context), (error) => {
      assert.ok(error instanceof CascadeError);
      assert.equal(error.code, 'ENGINE_TIMEOUT');
      assert.equal(error.details.model, 'basic');
      assert.equal(error.details.stage, 'tier1');
      return true;
    });
    assert.equal(slowOne.calls + slowTwo.calls, 2, 'tried once on each replica');
  });

  it('retries a refused connection on another replica', async () => {
    const dead = await fakeEngine(answer([1, 0]));
    const deadAddress = dead.address;
    await new Promise((resolve) => dead.server.close(resolve));
    const alive = await fakeEngine(answer([0.4, 0.6]));
    engines.push(alive);
    const executor = new RemoteExecutor(client, () => table([deadAddress, alive.address]), silentLogger(), () => 0);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      assert.deepEqual(await executor.classify('basic', image, context), [0.4, 0.6]);
    }
  });

  it('does not retry an engine that rejects the request', async () => {
    const rejecting = await fakeEngine((_request, response) => {
      response.statusCode = 400;
      response.end(JSON.stringify({ code: 'REQUEST_INVALID', message: 'bad pixels' }));
    });
    engines.push(rejecting);
    const executor = new RemoteExecutor(client, () => table([rejecting.address]), silentLogger());
    await assert.rejects(executor.classify('basic', image, context), (error) => error instanceof CascadeError && error.code === 'TIER1_FAILED' && error.details.engineCode === 'REQUEST_INVALID');
    assert.equal(rejecting.calls, 1);
  });

  it('prefers the replica with fewer calls in flight', async () => {
    const parkedResponses: ServerResponse[] = [];
    const busy = await fakeEngine((_request, response) => void parkedResponses.push(response));
    const idle = await fakeEngine(answer([0.5, 0.5]));
    engines.push(busy, idle);
    const slowClient = new EngineClient({ token: 't', timeoutMs: 5_000, connectionsPerEngine: 4, tls: null });
    let replicas = [busy.address];
    const executor = new RemoteExecutor(slowClient, () => table(replicas), silentLogger(), () => 0);
    // Occupy one replica: the call parked on `busy` stays outstanding.
    const parked = executor.classify('basic', image, context).catch(() => undefined);
    replicas = [busy.address, idle.address];
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(busy.calls, 1);
    for (let attempt = 0; attempt < 5; attempt += 1) await executor.classify('basic', image, context);
    assert.equal(busy.calls, 1, 'no new call went to the replica with a call in flight');
    assert.equal(idle.calls, 5);
    for (const response of parkedResponses) response.end(JSON.stringify({ modelId: 'basic', version: 'v1', probabilities: [0.5, 0.5] }));
    await parked;
    await slowClient.close();
  });

  it('answers TIER1_UNAVAILABLE with no ready replica', async () => {
    const executor = new RemoteExecutor(client, () => table([]), silentLogger());
    await assert.rejects(executor.classify('basic', image, context), (error) => error instanceof CascadeError && error.code === 'TIER1_UNAVAILABLE' && error.statusCode === 503);
  });
});
