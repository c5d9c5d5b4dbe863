import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { join, relative } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { silentLogger } from '../../src/shared/logger.js';
import { confirmationUrl, interpretDrivePage } from '../../src/sources/drive-page.js';
import {
  MAX_BACKOFF_MS,
  MAX_RETRY_AFTER_MS,
  createSource,
  defaultSourceSettings,
  parseModelRef,
  type FetchRequest,
  type SourceSettings,
} from '../../src/sources/index.js';
import { createProgressReporter, PROGRESS_LOG_INTERVAL_MS } from '../../src/sources/progress.js';
import { backoffDelayMs, parseRetryAfterMs } from '../../src/sources/retry.js';
import { captureLogs } from '../support/log-capture.js';
import { startLoopbackServer, type LoopbackServer } from '../support/loopback-server.js';
import { startMockDrive, type MockDrive } from '../support/mock-drive.js';
import { rejectsWithCode } from '../support/assertions.js';

const DRIVE_ID = '1-rfV85rTtGRMCi3ljUN0FgKnsiLjnPf5';
const MIB = 1024 * 1024;

function sha256Of(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function testSettings(cacheDir: string, driveBaseUrl = 'http://127.0.0.1:9'): SourceSettings {
  return { cacheDir, driveBaseUrl, maxAttempts: 3, retryBaseDelayMs: 1, requestTimeoutMs: 5_000, progress: false };
}

function fetchRequest(ref: string, overrides: Partial<FetchRequest> = {}): FetchRequest {
  return { ref, sha256: null, logger: silentLogger(), ...overrides };
}

/** Lists the files under the cache folder, relative to it, so tests can see what was kept. */
async function cacheContents(cacheDir: string): Promise<string[]> {
  if (!existsSync(cacheDir)) return [];
  const entries = await readdir(cacheDir, { recursive: true, withFileTypes: true });
  return entries.filter((entry) => entry.isFile()).map((entry) => relative(cacheDir, join(entry.parentPath, entry.name)));
}

let workDir: string;
let cacheDir: string;

beforeEach(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'cascade-sources-'));
  cacheDir = join(workDir, 'cache');
});

afterEach(async () => {
  await rm(workDir, { recursive: true, force: true });
});

describe('model ref shapes', () => {
  it('treats a bare id as a Drive file', () => {
    assert.deepEqual(parseModelRef(DRIVE_ID), { kind: 'gdrive', driveId: DRIVE_ID });
    assert.equal(createSource(DRIVE_ID, testSettings(cacheDir)).kind, 'gdrive');
  });

  it('reads Drive share links and gdrive refs', () => {
    const forms = [
      `gdrive:${DRIVE_ID}`,
      `https://drive.google.com/file/d/${DRIVE_ID}/view?usp=sharing`,
      `https://drive.google.com/file/d/${DRIVE_ID}`,
      `https://drive.google.com/open?id=${DRIVE_ID}`,
      `https://drive.google.com/uc?id=${DRIVE_ID}&export=download`,
      `https://docs.google.com/uc?export=download&id=${DRIVE_ID}`,
      `https://drive.usercontent.google.com/download?id=${DRIVE_ID}&export=download`,
    ];
    for (const form of forms) {
      assert.deepEqual(parseModelRef(form), { kind: 'gdrive', driveId: DRIVE_ID }, form);
      assert.equal(createSource(form, testSettings(cacheDir)).kind, 'gdrive', form);
    }
  });

  it('treats other http(s) URLs as http', () => {
    const parsed = parseModelRef('https://models.example.com/skin/basic.onnx?token=abc');
    assert.equal(parsed.kind, 'http');
    assert.equal(createSource('http://127.0.0.1:8080/m.h5', testSettings(cacheDir)).kind, 'http');
  });

  it('treats absolute and existing paths as local', async () => {
    const file = join(workDir, 'model.onnx');
    await writeFile(file, 'x');
    assert.deepEqual(parseModelRef(file), { kind: 'local', path: file });
    assert.deepEqual(parseModelRef(join(workDir, 'missing.onnx')), { kind: 'local', path: join(workDir, 'missing.onnx') });
    assert.deepEqual(parseModelRef(`file://${file}`), { kind: 'local', path: file });
    assert.equal(createSource(file, testSettings(cacheDir)).kind, 'local');
  });

  it('prefers an existing file over a Drive id', async () => {
    const previous = process.cwd();
    await writeFile(join(workDir, DRIVE_ID), 'x');
    process.chdir(workDir);
    try {
      assert.deepEqual(parseModelRef(DRIVE_ID), { kind: 'local', path: DRIVE_ID });
    } finally {
      process.chdir(previous);
    }
  });

  it('rejects unrecognised refs naming the forms', async () => {
    const refs = ['', 'model.onnx', 'short_id_123', 's3://bucket/model.onnx', 'gdrive:bad/id', 'https://drive.google.com/drive/folders/abc'];
    for (const ref of refs) {
      const error = await rejectsWithCode(Promise.resolve().then(() => createSource(ref, testSettings(cacheDir))), 'MODEL_FETCH_FAILED');
      assert.match(error.message, /Google Drive file id/, ref);
      assert.match(error.message, /http\(s\) URL/, ref);
    }
  });

  it('defaults point at Google Drive', () => {
    const settings = defaultSourceSettings('/var/cache/cascade');
    assert.equal(settings.cacheDir, '/var/cache/cascade');
    assert.equal(settings.driveBaseUrl, 'https://drive.google.com');
    assert.equal(settings.maxAttempts, 5);
    assert.equal(settings.retryBaseDelayMs, 1_000);
    assert.equal(settings.requestTimeoutMs, 30_000);
  });
});

describe('local source', () => {
  it('hashes the file and returns its path', async () => {
    const bytes = randomBytes(4096);
    const file = join(workDir, 'model.onnx');
    await writeFile(file, bytes);

    const fetched = await createSource(file, testSettings(cacheDir)).fetch(fetchRequest(file, { sha256: sha256Of(bytes) }));
    assert.equal(fetched.path, file);
    assert.equal(fetched.sha256, sha256Of(bytes));
    assert.equal(fetched.sizeBytes, 4096);
    assert.equal(fetched.fromCache, false);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('accepts an uppercase sha256', async () => {
    const bytes = randomBytes(100);
    const file = join(workDir, 'model.onnx');
    await writeFile(file, bytes);
    const fetched = await createSource(file, testSettings(cacheDir)).fetch(fetchRequest(file, { sha256: sha256Of(bytes).toUpperCase() }));
    assert.equal(fetched.sha256, sha256Of(bytes));
  });

  it('rejects a checksum mismatch', async () => {
    const bytes = randomBytes(100);
    const file = join(workDir, 'model.onnx');
    await writeFile(file, bytes);
    const wrong = 'a'.repeat(64);

    const error = await rejectsWithCode(createSource(file, testSettings(cacheDir)).fetch(fetchRequest(file, { sha256: wrong })), 'MODEL_CHECKSUM_MISMATCH');
    assert.ok(error.message.includes(wrong));
    assert.ok(error.message.includes(sha256Of(bytes)));
    assert.equal(error.details.expected, wrong);
    assert.equal(error.details.actual, sha256Of(bytes));
  });

  it('rejects a malformed sha256', async () => {
    const file = join(workDir, 'model.onnx');
    await writeFile(file, 'x');
    const error = await rejectsWithCode(createSource(file, testSettings(cacheDir)).fetch(fetchRequest(file, { sha256: '../../etc' })), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /64 hexadecimal digits/);
  });

  it('reports a missing file', async () => {
    const file = join(workDir, 'missing.onnx');
    const error = await rejectsWithCode(createSource(file, testSettings(cacheDir)).fetch(fetchRequest(file)), 'MODEL_FETCH_FAILED');
    assert.ok(error.message.includes(file));
    assert.match(error.message, /cannot be found/);
  });

  it('reports a folder', async () => {
    const error = await rejectsWithCode(createSource(workDir, testSettings(cacheDir)).fetch(fetchRequest(workDir)), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /not a regular file/);
  });

  it('reports an unreadable file', async (t) => {
    if (process.getuid?.() === 0) {
      t.skip('root reads files without read permission');
      return;
    }
    const file = join(workDir, 'locked.onnx');
    await writeFile(file, 'x');
    await chmod(file, 0o000);
    const error = await rejectsWithCode(createSource(file, testSettings(cacheDir)).fetch(fetchRequest(file)), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /may not read it/);
  });
});

describe('http source', () => {
  const model = randomBytes(256 * 1024);
  let server: LoopbackServer;
  let hangingResponses: Array<{ destroy(): void }> = [];
  let markStalled = (): void => {};
  const stalled = new Promise<void>((resolve) => {
    markStalled = resolve;
  });

  before(async () => {
    server = await startLoopbackServer({
      '/model.onnx': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(model.length) });
        response.end(model);
      },
      '/same-bytes.onnx': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end(model);
      },
      '/chunked.onnx': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end(model);
      },
      '/flaky.onnx': (_request, response, hit) => {
        if (hit <= 2) {
          response.writeHead(503);
          response.end('busy');
          return;
        }
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end(model);
      },
      '/down.onnx': (_request, response) => {
        response.writeHead(502);
        response.end('bad gateway');
      },
      '/gone.onnx': (_request, response) => {
        response.writeHead(404);
        response.end('no such file');
      },
      '/rate-limited.onnx': (_request, response, hit) => {
        if (hit === 1) {
          response.writeHead(429, { 'retry-after': '1' });
          response.end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end(model);
      },
      '/slow-down.onnx': (_request, response) => {
        response.writeHead(429, { 'retry-after': '3600' });
        response.end();
      },
      '/moved.onnx': (_request, response) => {
        response.writeHead(302, { location: '/model.onnx' });
        response.end();
      },
      '/page.html': (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        response.end('<html><body>Log in to download</body></html>');
      },
      '/cut-once.onnx': (_request, response, hit) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(model.length) });
        if (hit > 1) {
          response.end(model);
          return;
        }
        response.write(model.subarray(0, 1000), () => response.socket?.destroy());
      },
      '/hang.onnx': (_request, response) => {
        hangingResponses.push(response);
      },
      '/stall.onnx': (_request, response) => {
        hangingResponses.push(response);
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(model.length) });
        response.write(model.subarray(0, 64 * 1024), () => markStalled());
      },
    });
  });

  after(async () => {
    for (const response of hangingResponses) response.destroy();
    hangingResponses = [];
    await server.close();
  });

  it('downloads into the content-addressed cache', async () => {
    const ref = `${server.baseUrl}/model.onnx`;
    const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref));

    assert.equal(fetched.sha256, sha256Of(model));
    assert.equal(fetched.path, join(cacheDir, sha256Of(model)));
    assert.equal(fetched.sizeBytes, model.length);
    assert.equal(fetched.fromCache, false);
    assert.deepEqual(await readFile(fetched.path), model);
    const files = await cacheContents(cacheDir);
    assert.ok(files.includes(sha256Of(model)));
    assert.equal(files.filter((file) => file.startsWith('refs/')).length, 1);
    assert.equal(files.filter((file) => file.startsWith('tmp/')).length, 0);
  });

  it('serves a fetched ref from the cache', async () => {
    const ref = `${server.baseUrl}/chunked.onnx`;
    const source = createSource(ref, testSettings(cacheDir));
    const before = server.requestCount('/chunked.onnx');

    const first = await source.fetch(fetchRequest(ref));
    const second = await source.fetch(fetchRequest(ref));
    assert.equal(first.fromCache, false);
    assert.equal(second.fromCache, true);
    assert.equal(second.path, first.path);
    assert.equal(second.sha256, sha256Of(model));
    assert.equal(server.requestCount('/chunked.onnx') - before, 1);
  });

  it('skips the network when the sha256 is cached', async () => {
    const settings = testSettings(cacheDir);
    await createSource(`${server.baseUrl}/model.onnx`, settings).fetch(fetchRequest(`${server.baseUrl}/model.onnx`));

    const otherRef = `${server.baseUrl}/same-bytes.onnx`;
    const fetched = await createSource(otherRef, settings).fetch(fetchRequest(otherRef, { sha256: sha256Of(model) }));
    assert.equal(fetched.fromCache, true);
    assert.equal(server.requestCount('/same-bytes.onnx'), 0);

    // The ref is now recorded too, so a fetch without sha256 stays offline as well.
    const again = await createSource(otherRef, settings).fetch(fetchRequest(otherRef));
    assert.equal(again.fromCache, true);
    assert.equal(server.requestCount('/same-bytes.onnx'), 0);
  });

  it('downloads again when the cached file is corrupt', async () => {
    const ref = `${server.baseUrl}/model.onnx`;
    const source = createSource(ref, testSettings(cacheDir));
    const first = await source.fetch(fetchRequest(ref));
    await writeFile(first.path, 'corrupted');

    const second = await source.fetch(fetchRequest(ref, { sha256: sha256Of(model) }));
    assert.equal(second.fromCache, false);
    assert.deepEqual(await readFile(second.path), model);
  });

  it('accepts a matching sha256', async () => {
    const ref = `${server.baseUrl}/model.onnx`;
    const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { sha256: sha256Of(model) }));
    assert.equal(fetched.sha256, sha256Of(model));
    assert.equal(fetched.fromCache, false);
  });

  it('caches nothing on a sha256 mismatch', async () => {
    const ref = `${server.baseUrl}/model.onnx`;
    const wrong = 'b'.repeat(64);
    const error = await rejectsWithCode(
      createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { sha256: wrong })),
      'MODEL_CHECKSUM_MISMATCH',
    );
    assert.ok(error.message.includes(wrong));
    assert.ok(error.message.includes(sha256Of(model)));
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('retries 503 responses then succeeds', async () => {
    const logs = captureLogs();
    const ref = `${server.baseUrl}/flaky.onnx`;
    const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { logger: logs.logger }));

    assert.equal(fetched.sha256, sha256Of(model));
    assert.equal(server.requestCount('/flaky.onnx'), 3);
    const retries = logs.lines.filter((line) => line.msg === 'model download attempt failed, retrying');
    assert.deepEqual(retries.map((line) => line.attempt), [1, 2]);
    assert.ok(retries.every((line) => typeof line.delayMs === 'number'));
    const finished = logs.lines.find((line) => line.msg === 'model download finished');
    assert.equal(finished?.bytes, model.length);
    assert.equal(finished?.sha256, sha256Of(model));
    assert.equal(typeof finished?.ms, 'number');
  });

  it('gives up after maxAttempts', async () => {
    const ref = `${server.baseUrl}/down.onnx`;
    const error = await rejectsWithCode(createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref)), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /after 3 attempts/);
    assert.match(error.message, /HTTP 502/);
    assert.equal(server.requestCount('/down.onnx'), 3);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('does not retry a 404', async () => {
    const ref = `${server.baseUrl}/gone.onnx`;
    const error = await rejectsWithCode(createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref)), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /HTTP 404/);
    assert.equal(server.requestCount('/gone.onnx'), 1);
  });

  it('waits as long as Retry-After asks', async () => {
    const logs = captureLogs();
    const ref = `${server.baseUrl}/rate-limited.onnx`;
    const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { logger: logs.logger }));

    assert.equal(fetched.sha256, sha256Of(model));
    const retry = logs.lines.find((line) => line.msg === 'model download attempt failed, retrying');
    assert.equal(retry?.delayMs, 1_000);
  });

  it('caps Retry-After and aborts during the wait', async () => {
    const logs = captureLogs();
    const controller = new AbortController();
    const ref = `${server.baseUrl}/slow-down.onnx`;
    const fetching = createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { logger: logs.logger, signal: controller.signal }));

    const retry = await logs.waitFor((line) => line.msg === 'model download attempt failed, retrying');
    assert.equal(retry.delayMs, MAX_RETRY_AFTER_MS);
    const reason = new Error('engine shutting down');
    controller.abort(reason);

    await assert.rejects(fetching, (error: unknown) => error === reason);
    assert.equal(server.requestCount('/slow-down.onnx'), 1);
    assert.equal((await cacheContents(cacheDir)).filter((file) => !file.startsWith('tmp/')).length, 0);
  });

  it('aborts during exponential backoff', async () => {
    const logs = captureLogs();
    const controller = new AbortController();
    const settings = { ...testSettings(cacheDir), retryBaseDelayMs: 600_000 };
    const ref = `${server.baseUrl}/down.onnx`;
    const before = server.requestCount('/down.onnx');
    const fetching = createSource(ref, settings).fetch(fetchRequest(ref, { logger: logs.logger, signal: controller.signal }));

    const retry = await logs.waitFor((line) => line.msg === 'model download attempt failed, retrying');
    controller.abort(new Error('stop'));
    // Jitter keeps at least half of the capped exponential delay.
    assert.equal(typeof retry.delayMs, 'number');
    assert.ok(Number(retry.delayMs) >= MAX_BACKOFF_MS / 2, `delayMs ${String(retry.delayMs)}`);

    await assert.rejects(fetching, /stop/);
    assert.equal(server.requestCount('/down.onnx') - before, 1);
    assert.ok(logs.lines.some((line) => line.msg === 'model fetch aborted'));
  });

  it('aborts mid-body and deletes the part', async () => {
    const controller = new AbortController();
    const ref = `${server.baseUrl}/stall.onnx`;
    const fetching = createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { signal: controller.signal }));

    await stalled;
    const reason = new Error('load cancelled');
    controller.abort(reason);

    await assert.rejects(fetching, (error: unknown) => error === reason);
    assert.equal(server.requestCount('/stall.onnx'), 1);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('rejects an already aborted signal', async () => {
    const ref = `${server.baseUrl}/model.onnx`;
    const before = server.requestCount('/model.onnx');
    const signal = AbortSignal.abort(new Error('cancelled before start'));
    await assert.rejects(createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { signal })), /cancelled before start/);
    assert.equal(server.requestCount('/model.onnx'), before);
  });

  it('follows redirects', async () => {
    const ref = `${server.baseUrl}/moved.onnx`;
    const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref));
    assert.equal(fetched.sha256, sha256Of(model));
  });

  it('never saves an HTML page', async () => {
    const ref = `${server.baseUrl}/page.html`;
    const error = await rejectsWithCode(createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref)), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /HTML page/);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('retries a truncated body', async () => {
    const ref = `${server.baseUrl}/cut-once.onnx`;
    const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref));
    assert.equal(fetched.sha256, sha256Of(model));
    assert.equal(server.requestCount('/cut-once.onnx'), 2);
    assert.equal((await cacheContents(cacheDir)).filter((file) => file.startsWith('tmp/')).length, 0);
  });

  it('times out a silent server', async () => {
    const settings = { ...testSettings(cacheDir), maxAttempts: 2, requestTimeoutMs: 200 };
    const ref = `${server.baseUrl}/hang.onnx`;
    const error = await rejectsWithCode(createSource(ref, settings).fetch(fetchRequest(ref)), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /after 2 attempts/);
    assert.match(error.message, /sent nothing for 200 ms \(ETIMEDOUT\)/);
    assert.equal(server.requestCount('/hang.onnx'), 2);
  });

  it('retries a refused connection', async () => {
    const closed = await startLoopbackServer({});
    await closed.close();
    const ref = `${closed.baseUrl}/model.onnx`;
    const error = await rejectsWithCode(createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref)), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /ECONNREFUSED/);
    assert.match(error.message, /after 3 attempts/);
  });

  it('keeps tokens out of logs and messages', async () => {
    const logs = captureLogs();
    const ref = `${server.baseUrl}/gone.onnx?token=secret-value`;
    const error = await rejectsWithCode(createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { logger: logs.logger })), 'MODEL_FETCH_FAILED');
    assert.ok(!error.message.includes('secret-value'));
    assert.ok(logs.lines.length > 0);
    assert.ok(logs.lines.every((line) => !JSON.stringify(line).includes('secret-value')));
  });
});

describe('http source streaming', () => {
  const chunkBytes = 64 * 1024;
  // 128 MiB: V8 may leave up to about 64 MiB of spent buffers uncollected, so the body
  // must be well above the threshold below for the check to separate streaming from buffering.
  const chunkCount = 2048;
  let server: LoopbackServer;

  function* generatedChunks(): Generator<Buffer> {
    for (let index = 0; index < chunkCount; index++) {
      const chunk = Buffer.alloc(chunkBytes, index % 251);
      chunk.writeUInt32BE(index, 0);
      yield chunk;
    }
  }

  before(async () => {
    server = await startLoopbackServer({
      '/large.onnx': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(chunkBytes * chunkCount) });
        Readable.from(generatedChunks()).pipe(response);
      },
    });
  });

  after(async () => {
    await server.close();
  });

  it('streams 128 MiB without buffering it', async () => {
    const expected = createHash('sha256');
    for (const chunk of generatedChunks()) expected.update(chunk);
    const expectedSha256 = expected.digest('hex');

    const baselineBytes = process.memoryUsage().arrayBuffers;
    let peakBytes = baselineBytes;
    const sampler = setInterval(() => {
      peakBytes = Math.max(peakBytes, process.memoryUsage().arrayBuffers);
    }, 2);

    const ref = `${server.baseUrl}/large.onnx`;
    try {
      const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref, { sha256: expectedSha256 }));
      assert.equal(fetched.sha256, expectedSha256);
      assert.equal(fetched.sizeBytes, chunkBytes * chunkCount);
    } finally {
      clearInterval(sampler);
    }

    // Holding the body in memory would add at least its 128 MiB of buffers.
    assert.ok(peakBytes - baselineBytes < 96 * MIB, `buffer memory grew by ${((peakBytes - baselineBytes) / MIB).toFixed(1)} MiB`);
  });
});

describe('http source with close-delimited bodies', () => {
  // Bodies larger than the stream buffers, so the client has to pause the socket while
  // the file is written, and the server closes the connection while it is paused.
  const model = randomBytes(4 * MIB);
  let server: NetServer;
  let baseUrl = '';

  before(async () => {
    server = createNetServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
        socket.end(model);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    baseUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('downloads HTTP/1.0 bodies whole', async () => {
    for (let attempt = 0; attempt < 5; attempt++) {
      const ref = `${baseUrl}/old-server-${attempt}.onnx`;
      const fetched = await createSource(ref, testSettings(cacheDir)).fetch(fetchRequest(ref));
      assert.equal(fetched.sizeBytes, model.length, `attempt ${attempt}`);
      assert.equal(fetched.sha256, sha256Of(model), `attempt ${attempt}`);
    }
  });
});

describe('drive source', () => {
  const small = randomBytes(10_000);
  const large = randomBytes(300_000);
  let drive: MockDrive;

  const ids = {
    direct: 'direct_file_000000000000001',
    confirm: 'confirm_file_00000000000001',
    link: 'confirm_link_00000000000001',
    cookie: 'confirm_cookie_000000000001',
    loop: 'confirm_loop_00000000000001',
    signIn: 'not_shared_0000000000000001',
    noAccess: 'no_access_00000000000000001',
    forbidden: 'forbidden_00000000000000001',
    quota: 'quota_file_00000000000000001',
    html: 'html_page_00000000000000001',
    flaky: 'flaky_file_00000000000000001',
    down: 'always_down_000000000000001',
    cutOnce: 'truncated_once_000000000001',
    cutAlways: 'truncated_always_0000000001',
    rateLimited: 'rate_limited_00000000000001',
    unknown: 'unknown_file_00000000000001',
  };

  before(async () => {
    drive = await startMockDrive({
      [ids.direct]: { bytes: small, mode: 'direct' },
      [ids.confirm]: { bytes: large, mode: 'confirm' },
      [ids.link]: { bytes: large, mode: 'confirm-link' },
      [ids.cookie]: { bytes: large, mode: 'confirm-cookie' },
      [ids.loop]: { bytes: large, mode: 'confirm-loop' },
      [ids.signIn]: { bytes: small, mode: 'not-shared' },
      [ids.noAccess]: { bytes: small, mode: 'no-access' },
      [ids.forbidden]: { bytes: small, mode: 'forbidden' },
      [ids.quota]: { bytes: small, mode: 'quota' },
      [ids.html]: { bytes: small, mode: 'html' },
      [ids.flaky]: { bytes: small, mode: 'flaky', failures: 2 },
      [ids.down]: { bytes: small, mode: 'flaky', failures: Infinity },
      [ids.cutOnce]: { bytes: large, mode: 'truncated', failures: 1 },
      [ids.cutAlways]: { bytes: large, mode: 'truncated', failures: Infinity },
      [ids.rateLimited]: { bytes: small, mode: 'flaky', failures: 1, failureStatus: 429, retryAfter: '0' },
    });
  });

  after(async () => {
    await drive.close();
  });

  async function fetchDrive(ref: string, overrides: Partial<FetchRequest> = {}) {
    return createSource(ref, testSettings(cacheDir, drive.baseUrl)).fetch(fetchRequest(ref, overrides));
  }

  it('downloads a small file directly', async () => {
    const fetched = await fetchDrive(ids.direct);
    assert.deepEqual(await readFile(fetched.path), small);
    assert.equal(fetched.sha256, sha256Of(small));
    assert.equal(drive.requestCount(ids.direct), 1);
  });

  it('confirms the virus-scan form', async () => {
    const fetched = await fetchDrive(ids.confirm, { sha256: sha256Of(large) });
    assert.deepEqual(await readFile(fetched.path), large);
    assert.equal(drive.requestCount(ids.confirm), 2);
  });

  it('follows the older confirm link', async () => {
    const fetched = await fetchDrive(ids.link);
    assert.equal(fetched.sha256, sha256Of(large));
    assert.equal(drive.requestCount(ids.link), 2);
  });

  it('confirms with the warning cookie', async () => {
    const fetched = await fetchDrive(ids.cookie);
    assert.equal(fetched.sha256, sha256Of(large));
    assert.equal(drive.requestCount(ids.cookie), 2);
  });

  it('stops after repeated warning pages', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.loop), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /virus-scan warning page for file \S+ 4 times/);
    assert.equal(drive.requestCount(ids.loop), 4);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('reports a sign-in page as not shared', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.signIn), 'MODEL_NOT_SHARED');
    assert.ok(error.message.includes(ids.signIn));
    assert.match(error.message, /Anyone with the link/);
    assert.match(error.message, /Sign in - Google Accounts/);
    assert.equal(drive.requestCount(ids.signIn), 1);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('reports a no-access page as not shared', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.noAccess), 'MODEL_NOT_SHARED');
    assert.ok(error.message.includes(ids.noAccess));
    assert.match(error.message, /Anyone with the link/);
  });

  it('reports 403 as not shared, once', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.forbidden), 'MODEL_NOT_SHARED');
    assert.match(error.message, /HTTP 403/);
    assert.equal(drive.requestCount(ids.forbidden), 1);
  });

  it('reports 404 as not shared, once', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.unknown), 'MODEL_NOT_SHARED');
    assert.match(error.message, /HTTP 404/);
    assert.equal(drive.requestCount(ids.unknown), 1);
  });

  it('reports an exhausted quota', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.quota), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /quota/);
    assert.equal(drive.requestCount(ids.quota), 1);
  });

  it('never saves an unknown HTML page', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.html), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /HTML page titled 'Google Drive' for file/);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('retries 503 then succeeds', async () => {
    const fetched = await fetchDrive(ids.flaky);
    assert.equal(fetched.sha256, sha256Of(small));
    assert.equal(drive.requestCount(ids.flaky), 3);
  });

  it('retries a 429', async () => {
    const fetched = await fetchDrive(ids.rateLimited);
    assert.equal(fetched.sha256, sha256Of(small));
    assert.equal(drive.requestCount(ids.rateLimited), 2);
  });

  it('gives up when Drive stays down', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.down), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /after 3 attempts/);
    assert.match(error.message, /HTTP 503/);
    assert.equal(drive.requestCount(ids.down), 3);
  });

  it('retries a truncated body', async () => {
    const fetched = await fetchDrive(ids.cutOnce);
    assert.equal(fetched.sha256, sha256Of(large));
    assert.equal(drive.requestCount(ids.cutOnce), 2);
  });

  it('fails when every body is truncated', async () => {
    const error = await rejectsWithCode(fetchDrive(ids.cutAlways), 'MODEL_FETCH_FAILED');
    assert.match(error.message, /after 3 attempts/);
    assert.deepEqual(await cacheContents(cacheDir), []);
  });

  it('shares the cache across ref spellings', async () => {
    const first = await fetchDrive(`gdrive:${ids.direct}`);
    const countAfterFirst = drive.requestCount(ids.direct);
    const second = await fetchDrive(`https://drive.google.com/file/d/${ids.direct}/view?usp=sharing`);

    assert.equal(second.fromCache, true);
    assert.equal(second.path, first.path);
    assert.equal(drive.requestCount(ids.direct), countAfterFirst);
  });

  it('checks the sha256 of a Drive file', async () => {
    const wrong = 'c'.repeat(64);
    const error = await rejectsWithCode(fetchDrive(ids.direct, { sha256: wrong }), 'MODEL_CHECKSUM_MISMATCH');
    assert.ok(error.message.includes(sha256Of(small)));
    assert.deepEqual(await cacheContents(cacheDir), []);
  });
});

describe('drive page parsing', () => {
  const pageUrl = new URL('https://drive.google.com/uc?export=download&id=abc');

  it('builds the URL from the download form', () => {
    const html = `<html><body><form id="download-form" action="https://drive.usercontent.google.com/download" method="get">
      <input type="submit" value="Download anyway"/><input type="hidden" name="id" value="abc">
      <input type="hidden" name="export" value="download"><input type="hidden" name="confirm" value="t">
      <input type="hidden" name="uuid" value="1b2c&amp;3"></form></body></html>`;
    const next = confirmationUrl(html, pageUrl, null);
    assert.equal(next?.origin, 'https://drive.usercontent.google.com');
    assert.equal(next?.pathname, '/download');
    assert.equal(next?.searchParams.get('id'), 'abc');
    assert.equal(next?.searchParams.get('confirm'), 't');
    assert.equal(next?.searchParams.get('uuid'), '1b2c&3');
  });

  it('ignores forms in comments and scripts', () => {
    const html = `<!-- <form id="download-form" action="/a"></form> -->
      <script>document.write('<form id="download-form" action="/b">')</script><p>nothing</p>`;
    assert.equal(confirmationUrl(html, pageUrl, null), null);
  });

  it('handles quoted ">" and unquoted attributes', () => {
    const html = `<form data-x="a>b" id=download-form action=/download><input name=confirm value=t></form>`;
    const next = confirmationUrl(html, pageUrl, null);
    assert.equal(next?.href, 'https://drive.google.com/download?confirm=t');
  });

  it('reads a confirm link with entities', () => {
    const html = `<a href="/open?id=abc">model</a><a id="uc-download-link" href="/uc?export=download&amp;confirm=Xy_1&amp;id=abc">Download</a>`;
    const next = confirmationUrl(html, pageUrl, null);
    assert.equal(next?.searchParams.get('confirm'), 'Xy_1');
    assert.equal(next?.searchParams.get('id'), 'abc');
  });

  it('uses the warning cookie token', () => {
    const next = confirmationUrl('<html><title>Warning</title></html>', pageUrl, 'TOKEN');
    assert.equal(next?.searchParams.get('confirm'), 'TOKEN');
    assert.equal(next?.searchParams.get('id'), 'abc');
  });

  it('classifies pages that are not confirmations', () => {
    const signIn = interpretDrivePage('<title>Sign in - Google Accounts</title>', pageUrl, null);
    assert.equal(signIn.kind, 'not-shared');
    const accounts = interpretDrivePage('<title>Google</title>', new URL('https://accounts.google.com/v3/signin'), null);
    assert.equal(accounts.kind, 'not-shared');
    const quota = interpretDrivePage('<p>Too many users have viewed or downloaded this file recently.</p>', pageUrl, null);
    assert.equal(quota.kind, 'quota-exceeded');
    const other = interpretDrivePage('<title>Drive &amp; Docs</title>', pageUrl, null);
    assert.deepEqual(other, { kind: 'unknown', title: 'Drive & Docs' });
  });
});

describe('retry policy', () => {
  const policy = { maxAttempts: 5, baseDelayMs: 1_000, maxDelayMs: 30_000, maxRetryAfterMs: 60_000 };

  it('doubles the backoff with jitter', () => {
    assert.equal(backoffDelayMs(policy, 1, null, () => 0), 500);
    assert.equal(backoffDelayMs(policy, 1, null, () => 1), 1_000);
    assert.equal(backoffDelayMs(policy, 3, null, () => 1), 4_000);
    assert.equal(backoffDelayMs(policy, 3, null, () => 0), 2_000);
    assert.equal(backoffDelayMs(policy, 10, null, () => 1), 30_000);
  });

  it('honours and caps Retry-After', () => {
    assert.equal(backoffDelayMs(policy, 1, 5_000, () => 1), 5_000);
    assert.equal(backoffDelayMs(policy, 1, 0, () => 1), 1_000);
    assert.equal(backoffDelayMs(policy, 1, 3_600_000, () => 1), 60_000);
  });

  it('parses Retry-After forms', () => {
    const nowMs = Date.parse('2024-05-01T12:00:00Z');
    assert.equal(parseRetryAfterMs('7', nowMs), 7_000);
    assert.equal(parseRetryAfterMs('Wed, 01 May 2024 12:00:30 GMT', nowMs), 30_000);
    assert.equal(parseRetryAfterMs('Wed, 01 May 2024 11:00:00 GMT', nowMs), 0);
    assert.equal(parseRetryAfterMs('soon', nowMs), null);
    assert.equal(parseRetryAfterMs(undefined, nowMs), null);
  });
});

describe('download progress', () => {
  it('logs at most once per interval without a terminal', () => {
    const logs = captureLogs();
    let nowMs = 0;
    const stream = new PassThrough();
    const progress = createProgressReporter({ enabled: true, stream, logger: logs.logger, label: 'm', totalBytes: 100, now: () => nowMs });

    progress.update(10);
    nowMs = PROGRESS_LOG_INTERVAL_MS - 1;
    progress.update(20);
    nowMs = PROGRESS_LOG_INTERVAL_MS;
    progress.update(30);
    nowMs = PROGRESS_LOG_INTERVAL_MS + 10;
    progress.update(40);
    progress.finish();

    const lines = logs.lines.filter((line) => line.msg === 'model download progress');
    assert.deepEqual(lines.map((line) => line.receivedBytes), [30]);
    assert.equal(stream.read(), null);
  });

  it('draws a bar on a terminal', async () => {
    const logs = captureLogs();
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 120 });
    const written: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => written.push(chunk));

    const progress = createProgressReporter({ enabled: true, stream, logger: logs.logger, label: 'gdrive:abc', totalBytes: 4 * MIB });
    progress.update(2 * MIB);
    progress.finish();
    await new Promise((resolve) => setImmediate(resolve));

    assert.match(Buffer.concat(written).toString('utf8'), /gdrive:abc/);
    assert.equal(logs.lines.length, 0);
  });

  it('draws nothing when disabled', () => {
    const logs = captureLogs();
    const stream = Object.assign(new PassThrough(), { isTTY: true });
    const progress = createProgressReporter({ enabled: false, stream, logger: logs.logger, label: 'm', totalBytes: null });
    progress.update(1);
    progress.finish();
    assert.equal(stream.read(), null);
  });
});

describe('cache folder', () => {
  it('is created on first download', async () => {
    const nested = join(workDir, 'a', 'b', 'cache');
    const server = await startLoopbackServer({
      '/m.onnx': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end('model-bytes');
      },
    });
    try {
      const ref = `${server.baseUrl}/m.onnx`;
      const fetched = await createSource(ref, testSettings(nested)).fetch(fetchRequest(ref));
      assert.equal(fetched.path, join(nested, sha256Of(Buffer.from('model-bytes'))));
    } finally {
      await server.close();
    }
  });

  it('reports an unwritable cache folder', async () => {
    const blocker = join(workDir, 'blocker');
    await writeFile(blocker, 'a file where the cache folder should be');
    const server = await startLoopbackServer({});
    try {
      const ref = `${server.baseUrl}/m.onnx`;
      const error = await rejectsWithCode(createSource(ref, testSettings(join(blocker, 'cache'))).fetch(fetchRequest(ref)), 'MODEL_FETCH_FAILED');
      assert.match(error.message, /cache folder/);
    } finally {
      await server.close();
    }
  });

  it('ignores a corrupt ref entry', async () => {
    const server = await startLoopbackServer({
      '/m.onnx': (_request, response) => {
        response.writeHead(200, { 'content-type': 'application/octet-stream' });
        response.end('model-bytes');
      },
    });
    try {
      const ref = `${server.baseUrl}/m.onnx`;
      const source = createSource(ref, testSettings(cacheDir));
      await source.fetch(fetchRequest(ref));
      const refsDir = join(cacheDir, 'refs');
      for (const entry of await readdir(refsDir)) await writeFile(join(refsDir, entry), '{not json');
      await mkdir(join(cacheDir, 'tmp'), { recursive: true });

      const again = await source.fetch(fetchRequest(ref));
      assert.equal(again.fromCache, false);
      assert.equal(server.requestCount('/m.onnx'), 2);
    } finally {
      await server.close();
    }
  });
});
