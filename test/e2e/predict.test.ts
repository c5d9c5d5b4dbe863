import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FormData, request } from 'undici';
import { loadClusterConfig } from '../../src/config/load.js';
import type { ModelConfig } from '../../src/config/types.js';
import type { LoadedModel } from '../../src/runtime/loaded-model.js';
import { loadModel } from '../../src/runtime/loader.js';
import { defaultSourceSettings } from '../../src/sources/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { EXAMPLE_IMAGES, TestCluster } from '../support/cluster.js';
import { pngClaimingSize, solidImage, truncatedJpeg } from '../support/images.js';
import { CATEGORY_OF_FOLDER, DEMO_LABELS, exampleModelsToml } from '../support/models.js';
import { waitForStatus } from '../support/processes.js';

const MAX_BODY_BYTES = 2 * 1024 * 1024;
const PHOTOS = Object.keys(CATEGORY_OF_FOLDER).flatMap((folder) =>
  readdirSync(join(EXAMPLE_IMAGES, folder)).filter((name) => name.endsWith('.jpg')).map((name) => ({ folder, path: join(EXAMPLE_IMAGES, folder, name) })),
);
const MELANOMA_PHOTO = PHOTOS.find((photo) => photo.folder === 'mel')?.path ?? '';
const NEVUS_PHOTO = PHOTOS.find((photo) => photo.folder === 'nv')?.path ?? '';

interface Answer {
  category: string;
  predetection: { diseases: string; probability: number }[];
  propability: number;
  secondModel: string | null;
}

interface ErrorBody {
  code: string;
  message: string;
  requestId: string;
  details?: Record<string, unknown>;
}

async function postMultipart(url: string, bytes: Buffer, filename = 'photo.jpg', type = 'image/jpeg'): Promise<{ status: number; body: unknown }> {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(bytes)], { type }), filename);
  const response = await request(`${url}/v1/predict`, { method: 'POST', body: form });
  return { status: response.statusCode, body: await response.body.json() };
}

async function postRaw(url: string, bytes: Buffer, contentType: string): Promise<{ status: number; body: unknown }> {
  const response = await request(`${url}/v1/predict`, { method: 'POST', body: bytes, headers: { 'content-type': contentType } });
  return { status: response.statusCode, body: await response.body.json() };
}

function assertDistribution(values: number[], what: string): void {
  for (const value of values) {
    assert.ok(Number.isFinite(value), `${what}: ${value} is not finite`);
    assert.ok(value >= 0, `${what}: ${value} is below 0`);
    assert.ok(value <= 1, `${what}: ${value} is above 1`);
  }
  const sum = values.reduce((total, value) => total + value, 0);
  assert.ok(Math.abs(sum - 1) < 1e-6, `${what}: probabilities sum to ${sum}, not 1`);
}

function assertErrorBody(body: unknown, code: string): ErrorBody {
  const error = body as ErrorBody;
  assert.equal(error.code, code, `expected ${code}, got ${JSON.stringify(body)}`);
  assert.equal(typeof error.message, 'string');
  assert.ok(error.message.length > 20, `message too short: ${error.message}`);
  assert.match(error.requestId, /^[0-9a-f-]{36}$/);
  return error;
}

describe('two-tier prediction across processes', () => {
  const cluster = new TestCluster([{ host: '127.0.0.2' }, { host: '127.0.0.3' }], exampleModelsToml(`
[Limits]
max_body_bytes = ${MAX_BODY_BYTES}

[Timing]
heartbeat_interval_ms = 300
engine_down_after_ms = 1500
`));
  const reference = new Map<string, LoadedModel>();
  let models: ModelConfig[] = [];

  before(async () => {
    await cluster.start();
    const config = loadClusterConfig([cluster.configDir]);
    models = [config.basic, ...config.second];
    const sources = { ...defaultSourceSettings(join(cluster.dataDir, 'reference-cache')), progress: false };
    for (const model of models) {
      reference.set(model.id, await loadModel(model, { sources, session: { intraOpThreads: 1 }, logger: silentLogger() }));
    }
  });

  after(async () => {
    for (const model of reference.values()) await model.close();
    await cluster.stop();
  });

  it('answers health and readiness', async () => {
    const health = await request(`${cluster.apiUrl}/healthz`);
    assert.equal(health.statusCode, 200);
    assert.deepEqual(await health.body.json(), { status: 'ok' });
    const ready = await request(`${cluster.apiUrl}/readyz`);
    assert.equal(ready.statusCode, 200);
    assert.equal(((await ready.body.json()) as { ready: boolean }).ready, true);
  });

  it('classifies every HAM10000 photo into its folder category', async () => {
    for (const photo of PHOTOS) {
      const { status, body } = await postMultipart(cluster.apiUrl, readFileSync(photo.path));
      assert.equal(status, 200, `${photo.path}: ${JSON.stringify(body)}`);
      const answer = body as Answer;
      assert.equal(answer.category, CATEGORY_OF_FOLDER[photo.folder], photo.path);
      assert.ok(answer.propability > 0, `${photo.path}: propability ${answer.propability}`);
      assert.ok(answer.propability <= 1, `${photo.path}: propability ${answer.propability}`);
    }
  });

  it('matches in-process inference value for value', async () => {
    for (const photo of PHOTOS.filter((_, index) => index % 4 === 0)) {
      const bytes = readFileSync(photo.path);
      const { body } = await postMultipart(cluster.apiUrl, bytes);
      const answer = body as Answer;
      const basic = reference.get('basic');
      assert.ok(basic !== undefined);
      const expected = await basic.classifyEncoded(bytes, { maxBodyBytes: MAX_BODY_BYTES, maxPixels: 50_000_000, minWidth: 16, minHeight: 16 });
      assert.ok(Math.abs(Math.max(...expected) - answer.propability) < 1e-6, `${photo.path}: ${answer.propability} vs ${Math.max(...expected)}`);
      if (answer.secondModel === null) continue;
      const second = reference.get(answer.secondModel);
      assert.ok(second !== undefined, `no reference for ${answer.secondModel}`);
      const expectedSecond = await second.classifyEncoded(bytes, { maxBodyBytes: MAX_BODY_BYTES, maxPixels: 50_000_000, minWidth: 16, minHeight: 16 });
      const top = answer.predetection[0];
      assert.ok(top !== undefined);
      assert.ok(Math.abs(Math.max(...expectedSecond) - top.probability) < 1e-6, `${photo.path}: tier 2 ${top.probability} vs ${Math.max(...expectedSecond)}`);
    }
  });

  it('runs the second model of the winning category', async () => {
    const { body } = await postMultipart(cluster.apiUrl, readFileSync(MELANOMA_PHOTO));
    const answer = body as Answer;
    assert.equal(answer.category, 'Melanoma');
    assert.equal(answer.secondModel, 'second-6');
    assert.equal(answer.predetection.length, 7);
    assertDistribution(answer.predetection.map((entry) => entry.probability), 'tier 2');
    const ordered = [...answer.predetection].sort((left, right) => right.probability - left.probability);
    assert.deepEqual(answer.predetection, ordered, 'predetection must be most likely first');
    assert.deepEqual(Object.keys(answer), ['category', 'predetection', 'propability', 'secondModel']);
  });

  it('runs the demonstration model for basal cell carcinoma', async () => {
    const photo = PHOTOS.find((candidate) => candidate.folder === 'bcc');
    assert.ok(photo !== undefined);
    const { body } = await postMultipart(cluster.apiUrl, readFileSync(photo.path));
    const answer = body as Answer;
    assert.equal(answer.secondModel, 'second-1');
    assert.deepEqual(answer.predetection.map((entry) => entry.diseases).sort(), [...DEMO_LABELS].sort());
    assertDistribution(answer.predetection.map((entry) => entry.probability), 'demo tier 2');
  });

  it('answers an empty predetection for a category without a second model', async () => {
    const { status, body } = await postMultipart(cluster.apiUrl, readFileSync(NEVUS_PHOTO));
    assert.equal(status, 200);
    const answer = body as Answer;
    assert.equal(answer.category, 'Melanocytic nevi');
    assert.deepEqual(answer.predetection, []);
    assert.equal(answer.secondModel, null);
  });

  it('accepts a raw image body', async () => {
    const bytes = readFileSync(MELANOMA_PHOTO);
    const raw = await postRaw(cluster.apiUrl, bytes, 'image/jpeg');
    const multipart = await postMultipart(cluster.apiUrl, bytes);
    assert.equal(raw.status, 200);
    assert.deepEqual(raw.body, multipart.body);
  });

  it('rejects bad input with coded errors and keeps serving', async () => {
    const photo = readFileSync(MELANOMA_PHOTO);
    const cases: { name: string; send: () => Promise<{ status: number; body: unknown }>; status: number; code: string; mentions: RegExp[] }[] = [
      { name: 'empty body', send: () => postRaw(cluster.apiUrl, Buffer.alloc(0), 'image/jpeg'), status: 400, code: 'IMAGE_EMPTY', mentions: [/0 bytes/] },
      { name: 'truncated JPEG', send: () => postMultipart(cluster.apiUrl, truncatedJpeg(MELANOMA_PHOTO)), status: 422, code: 'IMAGE_UNDECODABLE', mentions: [/bytes/] },
      { name: 'text as image/jpeg', send: () => postRaw(cluster.apiUrl, Buffer.from('hello, I am a text file\n'), 'image/jpeg'), status: 422, code: 'IMAGE_UNDECODABLE', mentions: [/24 bytes/] },
      { name: '1x1 image', send: async () => postMultipart(cluster.apiUrl, await solidImage(1, 1, 'png'), 'dot.png', 'image/png'), status: 422, code: 'IMAGE_TOO_SMALL', mentions: [/1x1/, /16x16/] },
      { name: 'PNG claiming 20000x20000', send: async () => postMultipart(cluster.apiUrl, await pngClaimingSize(20000, 20000), 'huge.png', 'image/png'), status: 413, code: 'IMAGE_TOO_LARGE', mentions: [/20000x20000/, /50000000/] },
      { name: 'raw body over the limit', send: () => postRaw(cluster.apiUrl, Buffer.concat([photo, Buffer.alloc(MAX_BODY_BYTES)]), 'image/jpeg'), status: 413, code: 'BODY_TOO_LARGE', mentions: [new RegExp(String(MAX_BODY_BYTES))] },
      { name: 'multipart file over the limit', send: () => postMultipart(cluster.apiUrl, Buffer.concat([photo, Buffer.alloc(MAX_BODY_BYTES)])), status: 413, code: 'BODY_TOO_LARGE', mentions: [new RegExp(String(MAX_BODY_BYTES))] },
      { name: 'text content type', send: () => postRaw(cluster.apiUrl, Buffer.from('hello'), 'text/plain'), status: 415, code: 'IMAGE_UNSUPPORTED_TYPE', mentions: [/text\/plain/] },
    ];
    for (const testCase of cases) {
      const { status, body } = await testCase.send();
      assert.equal(status, testCase.status, `${testCase.name}: ${JSON.stringify(body)}`);
      const error = assertErrorBody(body, testCase.code);
      for (const pattern of testCase.mentions) assert.match(error.message, pattern, `${testCase.name}: ${error.message}`);
      const next = await postMultipart(cluster.apiUrl, photo);
      assert.equal(next.status, 200, `valid request after ${testCase.name}: ${JSON.stringify(next.body)}`);
    }
  });

  it('rejects a multipart request without an image field', async () => {
    const form = new FormData();
    form.append('photo', new Blob([new Uint8Array(readFileSync(MELANOMA_PHOTO))], { type: 'image/jpeg' }), 'photo.jpg');
    const response = await request(`${cluster.apiUrl}/v1/predict`, { method: 'POST', body: form });
    assert.equal(response.statusCode, 400);
    assertErrorBody(await response.body.json(), 'IMAGE_MISSING');
  });

  it('answers 5xx naming the stage and model when the second engine is down', async () => {
    const engine = cluster.engines.get(1);
    assert.ok(engine !== undefined);
    engine.child.kill('SIGKILL');
    await engine.exited;

    const { status, body } = await postMultipart(cluster.apiUrl, readFileSync(MELANOMA_PHOTO));
    assert.ok(status >= 500, `expected 5xx, got ${status}: ${JSON.stringify(body)}`);
    const error = body as ErrorBody;
    assert.match(error.code, /^TIER2_(FAILED|UNAVAILABLE)$/);
    assert.equal(error.details?.model, 'second-6');
    assert.equal(error.details?.stage, 'tier2');
    assert.match(error.message, /second-6/);

    const unaffected = await postMultipart(cluster.apiUrl, readFileSync(NEVUS_PHOTO));
    assert.equal(unaffected.status, 200, 'a category without a second model still answers');

    await waitForStatus(`${cluster.apiUrl}/readyz`, 503, 10_000, () => cluster.output());
    const later = await request(`${cluster.apiUrl}/v1/predict`, { method: 'POST', body: readFileSync(MELANOMA_PHOTO), headers: { 'content-type': 'image/jpeg' } });
    assert.equal(later.statusCode, 503);
    assert.ok(later.headers['retry-after'] !== undefined, 'a 503 carries Retry-After');
    const laterBody = assertErrorBody(await later.body.json(), 'TIER2_UNAVAILABLE');
    assert.equal(laterBody.details?.model, 'second-6');
  });
});
