import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { openSession } from '../../src/runtime/session.js';
import { EXAMPLE_MODELS } from '../support/cluster.js';
import { rejectsWithCode } from '../support/assertions.js';

// Random-weight demonstration model: NCHW input 1x3x64x64, 3 classes after a softmax.
const DEMO = readFileSync(join(EXAMPLE_MODELS, 'demo', 'bcc-subtypes-demo.onnx'));
const SHAPE = [1, 3, 64, 64];
const SETTINGS = { intraOpThreads: 1 };

function filledInput(value: number): Float32Array {
  return new Float32Array(3 * 64 * 64).fill(value);
}

describe('inference thread sessions', () => {
  it('returns the output values and dimensions', async () => {
    const session = await openSession('demo', DEMO, SETTINGS);
    const output = await session.run(filledInput(0.5), SHAPE);
    await session.close();
    assert.deepEqual(output.dims, [1, 3]);
    assert.equal(output.data.length, 3);
    const sum = output.data.reduce((total, value) => total + value, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `softmax outputs sum to ${sum}`);
  });

  it('pairs concurrent runs with their replies', async () => {
    const session = await openSession('demo', DEMO, SETTINGS);
    const values = [0, 0.25, 0.5, 0.75, 1];
    const sequential = [];
    for (const value of values) sequential.push(await session.run(filledInput(value), SHAPE));
    const together = await Promise.all(values.map((value) => session.run(filledInput(value), SHAPE)));
    await session.close();
    assert.notDeepEqual(sequential[0]?.data, sequential[4]?.data, 'different inputs must give different outputs for this check to mean anything');
    for (const [index, output] of together.entries()) assert.deepEqual(output.data, sequential[index]?.data, `input ${values[index]}`);
  });

  it('moves the input buffer to the thread', async () => {
    const session = await openSession('demo', DEMO, SETTINGS);
    const input = filledInput(0.5);
    await session.run(input, SHAPE);
    await session.close();
    assert.equal(input.length, 0);
  });

  it('copies an input that views part of a buffer', async () => {
    const session = await openSession('demo', DEMO, SETTINGS);
    const backing = new Float32Array(3 * 64 * 64 + 8).fill(0.5);
    const view = backing.subarray(8);
    const fromView = await session.run(view, SHAPE);
    const whole = await session.run(filledInput(0.5), SHAPE);
    await session.close();
    assert.equal(view.length, 3 * 64 * 64);
    assert.deepEqual(fromView.data, whole.data);
  });

  it('reports a wrong input shape with its code', async () => {
    const session = await openSession('demo', DEMO, SETTINGS);
    const error = await rejectsWithCode(session.run(new Float32Array(224 * 224 * 3), [1, 224, 224, 3]), 'INFERENCE_FAILED');
    assert.match(error.message, /'demo'.*invalid dimensions/s);
    const after = await session.run(filledInput(0.5), SHAPE);
    await session.close();
    assert.deepEqual(after.dims, [1, 3]);
  });

  it('rejects bytes that are not ONNX', async () => {
    const error = await rejectsWithCode(openSession('not-onnx', Buffer.from('this is not an ONNX file'), SETTINGS), 'MODEL_LOAD_FAILED');
    assert.match(error.message, /'not-onnx'/);
  });

  it('rejects a run on a closed session', async () => {
    const session = await openSession('demo', DEMO, SETTINGS);
    await session.close();
    await rejectsWithCode(session.run(filledInput(0.5), SHAPE), 'SHUTTING_DOWN');
  });

  it('rejects the inline host once the thread is in use', async () => {
    const error = await rejectsWithCode(openSession('demo', DEMO, { ...SETTINGS, host: 'inline' }), 'MODEL_LOAD_FAILED');
    assert.match(error.message, /host 'thread'/);
  });
});
