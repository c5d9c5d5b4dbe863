import type { ImageLimits } from '../config/types.js';
import { decodeImage, type RgbImage } from '../runtime/image.js';
import { CascadeError } from '../shared/errors.js';
import { acceptBuffers, createHttpServer, requireToken, type HttpServer } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import type { TlsMaterial } from '../shared/tls.js';
import { CLASSIFY_PATH, HEIGHT_HEADER, PIXELS_CONTENT_TYPE, WIDTH_HEADER, type ClassifyReply } from '../shared/protocol.js';
import type { ModelManager } from './model-manager.js';

export interface EngineServerDeps {
  manager: ModelManager;
  logger: Logger;
  token: string;
  maxBodyBytes: number;
  tls: TlsMaterial | null;
  /** Current image limits, as last received from the coordinator. */
  limits: () => ImageLimits;
  /** Whether the engine has its assignments and every one of them is ready. */
  ready: () => { ready: boolean; reason: string };
}

/** Builds the engine's HTTP API: health, readiness and the internal classify call. */
export function buildEngineServer(deps: EngineServerDeps): HttpServer {
  const app = createHttpServer({ logger: deps.logger, bodyLimitBytes: deps.maxBodyBytes, tls: deps.tls });
  acceptBuffers(app, [PIXELS_CONTENT_TYPE, /^image\/.+/]);
  requireToken(app, '/internal/', deps.token, deps.logger);

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const state = deps.ready();
    return reply.code(state.ready ? 200 : 503).send({ ready: state.ready, reason: state.reason, models: deps.manager.report() });
  });
  app.get('/internal/v1/status', async () => ({ models: deps.manager.report() }));

  app.post<{ Params: { modelId: string } }>(CLASSIFY_PATH, async (request): Promise<ClassifyReply> => {
    const body = request.body;
    if (!Buffer.isBuffer(body)) {
      throw new CascadeError('IMAGE_MISSING', `Send the image as ${PIXELS_CONTENT_TYPE} pixels or an image/* body.`);
    }
    const image = await readImage(body, request.headers, deps.limits());
    const result = await deps.manager.classify(request.params.modelId, image);
    return { modelId: request.params.modelId, version: result.version, probabilities: result.probabilities };
  });
  return app;
}

/** Reads either raw RGB pixels (sent by routers, already resized) or an encoded image file. */
async function readImage(body: Buffer, headers: Record<string, string | string[] | undefined>, limits: ImageLimits): Promise<RgbImage> {
  const contentType = String(headers['content-type'] ?? '');
  if (!contentType.startsWith(PIXELS_CONTENT_TYPE)) return decodeImage(body, limits);
  const width = Number(headers[WIDTH_HEADER]);
  const height = Number(headers[HEIGHT_HEADER]);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || width * height * 3 !== body.length) {
    throw new CascadeError('REQUEST_INVALID', `Pixel body of ${body.length} bytes does not match ${WIDTH_HEADER}=${String(headers[WIDTH_HEADER])} and ${HEIGHT_HEADER}=${String(headers[HEIGHT_HEADER])} (expected width x height x 3 bytes).`);
  }
  return { data: body, width, height };
}
