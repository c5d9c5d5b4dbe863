import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { describe, it } from 'node:test';
import { ChildGroup, type RestartPolicy } from '../../src/cli/children.js';
import { silentLogger } from '../../src/shared/logger.js';
import { waitUntil } from '../support/processes.js';

const FAST: RestartPolicy = { firstDelayMs: 10, maxDelayMs: 40, maxCrashes: 3, windowMs: 60_000 };

function sleeper(started: ChildProcess[]): () => ChildProcess {
  return () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    started.push(child);
    return child;
  };
}

function isRunning(child: ChildProcess | undefined): boolean {
  return child !== undefined && child.exitCode === null && child.signalCode === null;
}

describe('ChildGroup', () => {
  it('restarts a killed child', async () => {
    const started: ChildProcess[] = [];
    const group = new ChildGroup(silentLogger(), () => assert.fail('the group gave up'), FAST);
    group.add('sleeper', sleeper(started));
    started[0]?.kill('SIGKILL');
    await waitUntil('a second child', () => started.length === 2 && isRunning(started[1]), 10_000);
    await group.stop();
    assert.equal(started.length, 2);
    assert.equal(isRunning(started[1]), false, 'stop() left the restarted child running');
  });

  it('gives up on a child that keeps exiting', async () => {
    let starts = 0;
    let gaveUp: string | null = null;
    const group = new ChildGroup(silentLogger(), (name) => (gaveUp = name), FAST);
    group.add('crasher', () => {
      starts += 1;
      return spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    });
    await waitUntil('the group to give up', () => gaveUp !== null, 10_000);
    await group.stop();
    assert.equal(gaveUp, 'crasher');
    assert.equal(starts, FAST.maxCrashes);
  });

  it('does not restart children it stops', async () => {
    const started: ChildProcess[] = [];
    const group = new ChildGroup(silentLogger(), () => assert.fail('the group gave up'), FAST);
    group.add('sleeper', sleeper(started));
    await group.stop();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(started.length, 1);
    assert.equal(isRunning(started[0]), false);
  });
});
