import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ModelCache, STALE_PART_MS } from '../../src/sources/cache.js';

describe('ModelCache temporary files', () => {
  const folder = mkdtempSync(join(tmpdir(), 'cascade-cache-'));
  after(() => rmSync(folder, { recursive: true, force: true }));

  it('deletes abandoned .part files and keeps fresh ones', async () => {
    const tempDir = join(folder, 'tmp');
    mkdirSync(tempDir, { recursive: true });
    const abandoned = join(tempDir, 'abandoned.part');
    const inProgress = join(tempDir, 'in-progress.part');
    const other = join(tempDir, 'notes.txt');
    for (const path of [abandoned, inProgress, other]) writeFileSync(path, 'x');
    const now = Date.now();
    const old = new Date(now - STALE_PART_MS - 60_000);
    utimesSync(abandoned, old, old);
    utimesSync(other, old, old);

    const path = await new ModelCache(folder).createTempPath(now);

    assert.equal(existsSync(abandoned), false, 'the abandoned download is deleted');
    assert.equal(existsSync(inProgress), true, 'a download still being written is kept');
    assert.equal(existsSync(other), true, 'only .part files are touched');
    assert.match(path, /\.part$/);
  });
});
