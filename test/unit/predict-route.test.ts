import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { ImageLimits } from '../../src/config/types.js';
import { registerPredictRoute } from '../../src/pipeline/predict-route.js';
import type { CascadeAnswer } from '../../src/pipeline/answer.js';
import type { RgbImage } from '../../src/runtime/image.js';
import { createHttpServer, type HttpServer } from '../../src/shared/http.js';
import { silentLogger } from '../../src/shared/logger.js';
import { EXAMPLE_IMAGES } from '../support/cluster.js';

const PHOTO = readFileSync(join(EXAMPLE_IMAGES, 'mel', 'ISIC_0025744.jpg'));
// The photo fits with 1000 bytes to spare. The cases below cross this limit on purpose.
const LIMITS: ImageLimits = { maxBodyBytes: PHOTO.length + 1000, maxPixels: 50_000_000, minWidth: 16, minHeight: 16 };
const BOUNDARY = 'cascade-test-boundary';

/** Pipeline that records each decoded image instead of running models, because this file tests the HTTP layer. */
function recordingPipeline(seen: RgbImage[]) {
  return {
    async predict(image: RgbImage): Promise<CascadeAnswer> {
      seen.push(image);
      return { category: `${image.width}x${image.height}`, predetection: [], propability: 1, secondModel: null };
    },
  };
}

function filePart(field: string, filename: string, bytes: Buffer): Buffer[] {
  const head = `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${field}"; filename="${filename}"\r\nContent-Type: image/jpeg\r\n\r\n`;
  return [Buffer.from(head), bytes, Buffer.from('\r\n')];
}

const CLOSING = Buffer.from(`--${BOUNDARY}--\r\n`);

/** Sends the multipart body as the given chunks, so a test controls where each parser chunk ends. */
async function postChunks(app: HttpServer, chunks: Buffer[]) {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/predict',
    headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` },
    payload: Readable.from(chunks),
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

describe('POST /v1/predict body reading', () => {
  const seen: RgbImage[] = [];
  let app: HttpServer;

  before(async () => {
    app = createHttpServer({ logger: silentLogger(), bodyLimitBytes: LIMITS.maxBodyBytes, tls: null });
    await registerPredictRoute(app, { pipeline: recordingPipeline(seen), limits: () => LIMITS });
    await app.ready();
  });

  after(async () => {
    await app.close();
  });

  it('decodes an image under the limit', async () => {
    const { status, body } = await postChunks(app, [...filePart('image', 'photo.jpg', PHOTO), CLOSING]);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.category, '600x450');
  });

  it('rejects a file split at the limit', async () => {
    // A JPEG followed by padding still decodes, so a file cut at the limit would be classified.
    // The first chunk ends exactly at the limit and the rest arrives in a second chunk.
    const padded = Buffer.concat([PHOTO, Buffer.alloc(LIMITS.maxBodyBytes)]);
    const [head, , tail] = filePart('image', 'padded.jpg', padded);
    const atLimit = Buffer.concat([head!, padded.subarray(0, LIMITS.maxBodyBytes)]);
    const rest = Buffer.concat([padded.subarray(LIMITS.maxBodyBytes), tail!, CLOSING]);
    const before = seen.length;
    const { status, body } = await postChunks(app, [atLimit, rest]);
    assert.equal(status, 413, JSON.stringify(body));
    assert.equal(body.code, 'BODY_TOO_LARGE');
    assert.match(String(body.message), new RegExp(`'padded.jpg'.*${LIMITS.maxBodyBytes} bytes`));
    assert.equal(seen.length, before, 'the cut-off file reached the pipeline');
  });

  it('rejects a file one byte over', async () => {
    const over = Buffer.concat([PHOTO, Buffer.alloc(LIMITS.maxBodyBytes + 1 - PHOTO.length)]);
    const { status, body } = await postChunks(app, [Buffer.concat([...filePart('image', 'over.jpg', over), CLOSING])]);
    assert.equal(status, 413, JSON.stringify(body));
    assert.equal(body.code, 'BODY_TOO_LARGE');
  });

  it('accepts a file at the limit', async () => {
    const exact = Buffer.concat([PHOTO, Buffer.alloc(LIMITS.maxBodyBytes - PHOTO.length)]);
    const { status, body } = await postChunks(app, [...filePart('image', 'exact.jpg', exact), CLOSING]);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.category, '600x450');
  });

  it('rejects a second file', async () => {
    const chunks = [...filePart('notes', 'notes.txt', Buffer.from('not an image')), ...filePart('image', 'photo.jpg', PHOTO), CLOSING];
    const { status, body } = await postChunks(app, chunks);
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.code, 'REQUEST_INVALID');
    assert.match(String(body.message), /more than 1 file.*'image'/);
  });

  it('reports a missing image field', async () => {
    const { status, body } = await postChunks(app, [...filePart('photo', 'photo.jpg', PHOTO), CLOSING]);
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.code, 'IMAGE_MISSING');
  });

  it('rejects malformed multipart bodies', async () => {
    const cases = [
      { name: 'no parts', contentType: `multipart/form-data; boundary=${BOUNDARY}`, payload: 'garbage', mentions: /Unexpected end of multipart data/ },
      { name: 'no boundary', contentType: 'multipart/form-data', payload: 'garbage', mentions: /Boundary not found/ },
      { name: 'cut mid-part', contentType: `multipart/form-data; boundary=${BOUNDARY}`, payload: Buffer.concat([filePart('image', 'photo.jpg', PHOTO)[0]!, PHOTO.subarray(0, 100)]), mentions: /Unexpected end/ },
    ];
    for (const testCase of cases) {
      const response = await app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': testCase.contentType }, payload: testCase.payload });
      const body = response.json() as Record<string, unknown>;
      assert.equal(response.statusCode, 400, `${testCase.name}: ${response.body}`);
      assert.equal(body.code, 'REQUEST_INVALID', testCase.name);
      assert.match(String(body.message), testCase.mentions, testCase.name);
      assert.match(String(body.message), /-F image=@photo\.jpg/, testCase.name);
    }
  });

  it('rejects a second image field', async () => {
    const chunks = [...filePart('image', 'first.jpg', PHOTO), ...filePart('image', 'second.jpg', PHOTO), CLOSING];
    const { status, body } = await postChunks(app, chunks);
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body.code, 'REQUEST_INVALID');
    assert.match(String(body.message), /more than 1 file/);
  });

  it('answers 415 for a photo sent as JSON', async () => {
    const types = ['application/json', 'text/plain', 'application/x-www-form-urlencoded'];
    for (const contentType of types) {
      const response = await app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': contentType }, payload: PHOTO });
      const body = response.json() as Record<string, unknown>;
      assert.equal(response.statusCode, 415, `${contentType}: ${response.body}`);
      assert.equal(body.code, 'IMAGE_UNSUPPORTED_TYPE', contentType);
      assert.ok(String(body.message).includes(`'${contentType}'`), String(body.message));
      assert.match(String(body.message), /-F image=@photo\.jpg.*image\/\* content type/);
    }
  });

  it('rejects a raw body over a lowered limit', async () => {
    // The server's own limit stays as it started; the route checks the current one.
    const server = createHttpServer({ logger: silentLogger(), bodyLimitBytes: 10 * LIMITS.maxBodyBytes, tls: null });
    await registerPredictRoute(server, { pipeline: recordingPipeline([]), limits: () => LIMITS });
    const over = Buffer.concat([PHOTO, Buffer.alloc(LIMITS.maxBodyBytes + 1 - PHOTO.length)]);
    const response = await server.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': 'image/jpeg' }, payload: over });
    await server.close();
    const body = response.json() as Record<string, unknown>;
    assert.equal(response.statusCode, 413, response.body);
    assert.equal(body.code, 'BODY_TOO_LARGE');
    assert.match(String(body.message), new RegExp(`${over.length} bytes.*${LIMITS.maxBodyBytes} bytes`));
  });

  it('accepts application/octet-stream', async () => {
    const response = await app.inject({ method: 'POST', url: '/v1/predict', headers: { 'content-type': 'application/octet-stream' }, payload: PHOTO });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal((response.json() as Record<string, unknown>).category, '600x450');
  });

  it('answers a malformed request with a coded error', async () => {
    const server = createHttpServer({ logger: silentLogger(), bodyLimitBytes: LIMITS.maxBodyBytes, tls: null });
    await server.listen({ host: '127.0.0.1', port: 0 });
    const address = server.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const reply = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('THIS IS NOT HTTP\r\n\r\n'));
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    await server.close();
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request/);
    const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
    assert.equal(body.code, 'REQUEST_INVALID');
    assert.match(String(body.message), /could not be parsed/);
  });

  it('answers 405 for GET', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/predict' });
    const body = response.json() as Record<string, unknown>;
    assert.equal(response.statusCode, 405);
    assert.equal(response.headers.allow, 'POST');
    assert.equal(body.code, 'METHOD_NOT_ALLOWED');
    assert.match(String(body.message), /use POST/);
  });

  it('answers 404 for an unknown path', async () => {
    const response = await app.inject({ method: 'GET', url: '/v1/nothing' });
    assert.equal(response.statusCode, 404);
    assert.equal((response.json() as Record<string, unknown>).code, 'ROUTE_NOT_FOUND');
  });

  it('serves after a rejected upload', async () => {
    const over = Buffer.concat([PHOTO, Buffer.alloc(LIMITS.maxBodyBytes)]);
    assert.equal((await postChunks(app, [...filePart('image', 'big.jpg', over), CLOSING])).status, 413);
    const { status, body } = await postChunks(app, [...filePart('image', 'photo.jpg', PHOTO), CLOSING]);
    assert.equal(status, 200, JSON.stringify(body));
  });
});
