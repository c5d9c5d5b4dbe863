import type { FastifyRequest } from 'fastify';
import multipart from '@fastify/multipart';
import type { ImageLimits } from '../config/types.js';
import type { CascadePipeline } from '../pipeline/cascade.js';
import { decodeImage } from '../runtime/image.js';
import { CascadeError } from '../shared/errors.js';
import { acceptBuffers, type HttpServer } from '../shared/http.js';

export const PREDICT_PATH = '/v1/predict';

export interface PredictRouteDeps {
  pipeline: CascadePipeline;
  limits: () => ImageLimits;
  /** Resolves once routing can be trusted; awaited before each prediction. */
  routingSettled?: () => Promise<void>;
}

/**
 * Registers `POST /v1/predict`: read the image (multipart field `image` or a raw image/*
 * body), validate and decode it once, run the cascade, and return the clients' format.
 */
export async function registerPredictRoute(app: HttpServer, deps: PredictRouteDeps): Promise<void> {
  await app.register(multipart, { limits: { files: 1, fields: 10, fileSize: deps.limits().maxBodyBytes } });
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
  for await (const part of request.parts()) {
    if (part.type !== 'file') continue;
    if (part.fieldname !== 'image') {
      await part.toBuffer().catch(() => undefined);
      continue;
    }
    try {
      return await part.toBuffer();
    } catch (error) {
      if (error instanceof Error && 'code' in error && error.code === 'FST_REQ_FILE_TOO_LARGE') {
        throw new CascadeError('BODY_TOO_LARGE', `The uploaded image '${part.filename}' is larger than the limit of ${limits.maxBodyBytes} bytes; send a smaller image or raise max_body_bytes in the [Limits] table.`, { filename: part.filename, maxBodyBytes: limits.maxBodyBytes });
      }
      throw error;
    }
  }
  throw new CascadeError('IMAGE_MISSING', `The multipart request has no file field named 'image'; send the photo as -F image=@photo.jpg.`);
}
