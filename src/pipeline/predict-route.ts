import { once } from 'node:events';
import type { FastifyRequest } from 'fastify';
import multipart, { type MultipartFile } from '@fastify/multipart';
import type { ImageLimits } from '../config/types.js';
import type { CascadePipeline } from '../pipeline/cascade.js';
import { decodeImage } from '../runtime/image.js';
import { CascadeError, describeError, isCascadeError } from '../shared/errors.js';
import { acceptBuffers, type HttpServer } from '../shared/http.js';

export const PREDICT_PATH = '/v1/predict';

/** Part limits: one photo per request. A few text fields are accepted and ignored. */
const MULTIPART_LIMITS = { files: 1, fields: 10 } as const;

export interface PredictRouteDeps {
  pipeline: Pick<CascadePipeline, 'predict'>;
  limits: () => ImageLimits;
  /** Resolves once routing can be trusted; awaited before each prediction. */
  routingSettled?: () => Promise<void>;
}

/** Instructions for sending a photo, shared by every error about the request's form. */
const HOW_TO_SEND = "send multipart/form-data with one file field 'image' (curl -F image=@photo.jpg), or the file itself as the body with an image/* content type such as image/jpeg, or application/octet-stream";

/**
 * Registers `POST /v1/predict`: read the image (multipart field `image` or a raw image/*
 * body), validate and decode it once, run the cascade, and return the clients' format.
 */
export async function registerPredictRoute(app: HttpServer, deps: PredictRouteDeps): Promise<void> {
  // A scope of its own with only the image parsers. A photo sent as application/json then
  // gets a 415 with the instructions, not a JSON parse error from the server's parser.
  await app.register(async (scope: HttpServer) => {
    scope.removeAllContentTypeParsers();
    // The size check is in findImagePart. The plugin checks the truncation flag only while
    // chunks arrive, so a file cut at a chunk boundary would reach the model.
    await scope.register(multipart, { limits: MULTIPART_LIMITS, throwFileSizeLimit: false });
    acceptBuffers(scope, [/^image\/.+/, 'application/octet-stream']);
    scope.addContentTypeParser('*', (request, _payload, done) => done(unsupportedType(request.headers['content-type'] ?? '')));

    scope.post(PREDICT_PATH, async (request) => {
      const bytes = await readImageBytes(request, deps.limits());
      const image = await decodeImage(bytes, deps.limits());
      await deps.routingSettled?.();
      return deps.pipeline.predict(image, request.id);
    });
  });
}

/**
 * Checks a raw body against the current limit. The server's own body limit is fixed
 * when it starts, and a configuration applied since may have lowered the limit.
 */
function checkRawSize(body: Buffer, limits: ImageLimits): Buffer {
  if (body.length <= limits.maxBodyBytes) return body;
  throw new CascadeError('BODY_TOO_LARGE', `The request body (${body.length} bytes) is larger than the limit of ${limits.maxBodyBytes} bytes; send a smaller image or raise max_body_bytes in the [Limits] table.`, { contentLength: body.length, maxBodyBytes: limits.maxBodyBytes });
}

function unsupportedType(contentType: string): CascadeError {
  return new CascadeError('IMAGE_UNSUPPORTED_TYPE', `The content type '${contentType}' is not accepted; ${HOW_TO_SEND}.`, { contentType });
}

async function readImageBytes(request: FastifyRequest, limits: ImageLimits): Promise<Buffer> {
  if (request.isMultipart()) return readMultipartImage(request, limits);
  if (Buffer.isBuffer(request.body)) return checkRawSize(request.body, limits);
  throw new CascadeError('IMAGE_MISSING', `No image in the request; ${HOW_TO_SEND}.`);
}

async function readMultipartImage(request: FastifyRequest, limits: ImageLimits): Promise<Buffer> {
  try {
    return await findImagePart(request, limits);
  } catch (error) {
    throw describeMultipartError(error);
  }
}

/**
 * Reads every part, so that a second file after the image is rejected (by the files
 * limit) instead of being ignored. The size limit is read per request, because the
 * coordinator may change it while the process runs.
 */
async function findImagePart(request: FastifyRequest, limits: ImageLimits): Promise<Buffer> {
  let image: Buffer | null = null;
  for await (const part of request.parts({ limits: { ...MULTIPART_LIMITS, fileSize: limits.maxBodyBytes } })) {
    if (part.type !== 'file') continue;
    if (part.fieldname !== 'image') {
      part.file.resume();
      await once(part.file, 'end');
      continue;
    }
    const bytes = await readFilePart(part);
    if (part.file.truncated) {
      throw new CascadeError('BODY_TOO_LARGE', `The uploaded image '${part.filename}' is larger than the limit of ${limits.maxBodyBytes} bytes; send a smaller image or raise max_body_bytes in the [Limits] table.`, { filename: part.filename, maxBodyBytes: limits.maxBodyBytes });
    }
    image = bytes;
  }
  if (image === null) throw new CascadeError('IMAGE_MISSING', `The multipart request has no file field named 'image'; send the photo as -F image=@photo.jpg.`);
  return image;
}

/**
 * Converts the plugin's part-count errors into errors that name the fix. Any other
 * failure while parsing comes from a malformed body, for example a missing boundary or
 * a body that ends mid-part, so it is the client's error too.
 */
function describeMultipartError(error: unknown): CascadeError {
  if (isCascadeError(error)) return error;
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  switch (code) {
    case 'FST_FILES_LIMIT':
      return new CascadeError('REQUEST_INVALID', `The multipart request carries more than ${MULTIPART_LIMITS.files} file; send only the photo, in the field 'image'.`, { maxFiles: MULTIPART_LIMITS.files });
    case 'FST_FIELDS_LIMIT':
    case 'FST_PARTS_LIMIT':
      return new CascadeError('REQUEST_INVALID', `The multipart request carries more than ${MULTIPART_LIMITS.fields} text fields; send only the photo, in the field 'image'.`, { maxFields: MULTIPART_LIMITS.fields });
    default:
      return new CascadeError('REQUEST_INVALID', `The multipart body could not be read (${describeError(error)}); ${HOW_TO_SEND}.`);
  }
}

/** Reads a file part to its end, after which busboy's `truncated` flag is final. */
async function readFilePart(part: MultipartFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of part.file) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
