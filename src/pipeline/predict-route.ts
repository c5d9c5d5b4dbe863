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

/**
 * Registers `POST /v1/predict`: read the image (multipart field `image` or a raw image/*
 * body), validate and decode it once, run the cascade, and return the clients' format.
 */
export async function registerPredictRoute(app: HttpServer, deps: PredictRouteDeps): Promise<void> {
  // The size check is in findImagePart. The plugin checks the truncation flag only while
  // chunks arrive, so a file cut at a chunk boundary would reach the model.
  await app.register(multipart, { limits: { ...MULTIPART_LIMITS, fileSize: deps.limits().maxBodyBytes }, throwFileSizeLimit: false });
  acceptBuffers(app, [/^image\/.+/, 'application/octet-stream']);

  app.post(PREDICT_PATH, async (request) => {
    const bytes = await readImageBytes(request, deps.limits());
    const image = await decodeImage(bytes, deps.limits());
    await deps.routingSettled?.();
    return deps.pipeline.predict(image, request.id);
  });
}

async function readImageBytes(request: FastifyRequest, limits: ImageLimits): Promise<Buffer> {
  if (request.isMultipart()) return readMultipartImage(request, limits);
  if (Buffer.isBuffer(request.body)) return request.body;
  const contentType = request.headers['content-type'];
  if (contentType !== undefined) {
    throw new CascadeError('IMAGE_UNSUPPORTED_TYPE', `The content type '${contentType}' is not accepted; send multipart/form-data with a file field 'image', or the file itself with Content-Type image/jpeg, image/png or image/webp.`, { contentType });
  }
  throw new CascadeError('IMAGE_MISSING', `No image in the request; send multipart/form-data with a file field 'image', or the file itself as the body with Content-Type image/jpeg, image/png or image/webp.`);
}

async function readMultipartImage(request: FastifyRequest, limits: ImageLimits): Promise<Buffer> {
  try {
    return await findImagePart(request, limits);
  } catch (error) {
    throw describeMultipartError(error);
  }
}

async function findImagePart(request: FastifyRequest, limits: ImageLimits): Promise<Buffer> {
  for await (const part of request.parts()) {
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
    return bytes;
  }
  throw new CascadeError('IMAGE_MISSING', `The multipart request has no file field named 'image'; send the photo as -F image=@photo.jpg.`);
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
      return new CascadeError('REQUEST_INVALID', `The multipart body could not be read (${describeError(error)}); send multipart/form-data with one file field 'image', as curl -F image=@photo.jpg does.`);
  }
}

/** Reads a file part to its end, after which busboy's `truncated` flag is final. */
async function readFilePart(part: MultipartFile): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of part.file) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
