import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import Fastify, { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from 'fastify';
import { CascadeError, isCascadeError } from './errors.js';
import type { Logger } from './logger.js';
import type { TlsMaterial } from './tls.js';

export const REQUEST_ID_HEADER = 'x-request-id';

export type HttpServer = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;

export interface HttpServerOptions {
  logger: Logger;
  /** Largest accepted request body in bytes. */
  bodyLimitBytes: number;
  /** Serve HTTPS with this certificate and key; plain HTTP when null. */
  tls: TlsMaterial | null;
}

/**
 * Creates a Fastify instance with Cascade's conventions: request ids taken from
 * `x-request-id` or generated, every error returned as JSON with a stable `code`, and
 * no log line per successful request (pino logs errors and lifecycle only).
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const https = options.tls?.cert && options.tls.key ? { https: { cert: options.tls.cert, key: options.tls.key } } : {};
  const app = Fastify({
    ...https,
    loggerInstance: options.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    requestIdHeader: REQUEST_ID_HEADER,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    clientErrorHandler: answerClientError,
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header(REQUEST_ID_HEADER, request.id);
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    const allowed = allowedMethods(app, request.url);
    if (allowed.length > 0) {
      const error = new CascadeError('METHOD_NOT_ALLOWED', `${request.url} does not accept ${request.method}; use ${allowed.join(' or ')}.`, { allowed });
      void reply.code(405).header('allow', allowed.join(', ')).send(error.toJSON(request.id));
      return;
    }
    const error = new CascadeError('ROUTE_NOT_FOUND', `No route ${request.method} ${request.url}; see docs/api.md for the routes.`);
    void reply.code(404).send(error.toJSON(request.id));
  });
  return app;
}

const ROUTE_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** Lists the methods that have a route for the path of `url`. */
function allowedMethods(app: HttpServer, url: string): string[] {
  const path = url.split('?', 1)[0] ?? url;
  return ROUTE_METHODS.filter((method) => app.hasRoute({ method, url: path }));
}

/**
 * Responds to a request that Node's HTTP parser could not read (a malformed or cut-off
 * request) with a coded JSON error instead of Fastify's plain default.
 */
function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const timedOut = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const body = JSON.stringify(new CascadeError('REQUEST_INVALID', timedOut ? 'The request was not received in time; send the whole request at once.' : `The HTTP request could not be parsed (${error.code ?? error.message}); send a complete, well-formed request.`).toJSON());
  const status = timedOut ? '408 Request Timeout' : '400 Bad Request';
  socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}

/** Accepts request bodies of these content types as Buffers, for image and pixel uploads. */
export function acceptBuffers(app: HttpServer, contentTypes: (string | RegExp)[]): void {
  for (const contentType of contentTypes) {
    if (app.hasContentTypeParser(contentType)) continue;
    app.addContentTypeParser(contentType, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  }
}

function handleError(error: FastifyError | CascadeError | Error, request: FastifyRequest, reply: FastifyReply): void {
  const cascadeError = toCascadeError(error, request);
  if (cascadeError.statusCode >= 500) {
    request.log.error({ err: error, reqId: request.id, code: cascadeError.code }, 'request failed');
  } else {
    request.log.debug({ reqId: request.id, code: cascadeError.code }, cascadeError.message);
  }
  if (cascadeError.statusCode === 503) {
    const retryAfter = cascadeError.details.retryAfterSeconds;
    void reply.header('retry-after', String(typeof retryAfter === 'number' ? retryAfter : 1));
  }
  void reply.code(cascadeError.statusCode).send(cascadeError.toJSON(request.id));
}

/** Maps Fastify's own errors (body limit, content type, bad JSON) onto the catalogue. */
function toCascadeError(error: FastifyError | CascadeError | Error, request: FastifyRequest): CascadeError {
  if (isCascadeError(error)) return error;
  const code = 'code' in error ? error.code : undefined;
  const header = request.headers['content-length'];
  const length = header !== undefined && /^\d+$/.test(header) ? Number(header) : null;
  switch (code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new CascadeError('BODY_TOO_LARGE', `The request body (${length ?? 'unknown'} bytes) is larger than the limit of ${request.routeOptions.bodyLimit ?? 'the configured'} bytes; send a smaller image or raise max_body_bytes in the [Limits] table.`, { contentLength: length, maxBodyBytes: request.routeOptions.bodyLimit });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new CascadeError('IMAGE_UNSUPPORTED_TYPE', `The content type '${request.headers['content-type'] ?? '(none)'}' is not accepted by ${request.method} ${request.url}; docs/api.md lists what each route takes.`, { contentType: request.headers['content-type'] ?? null });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_VALIDATION':
      return new CascadeError('REQUEST_INVALID', `The request is invalid: ${error.message}`);
    default:
      break;
  }
  const status = 'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : 500;
  if (status === 413) {
    return new CascadeError('BODY_TOO_LARGE', `The request body is larger than allowed: ${error.message}`, { contentLength: length });
  }
  if (status >= 400 && status < 500) return new CascadeError('REQUEST_INVALID', `The request is invalid: ${error.message}`);
  return new CascadeError('INTERNAL', `Internal error: ${error.message}`);
}

/** Compares a bearer token in constant time; an empty expected token disables the check. */
export function bearerTokenMatches(header: string | undefined, expected: string): boolean {
  if (expected === '') return true;
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const received = Buffer.from(header.slice('Bearer '.length));
  const expectedBytes = Buffer.from(expected);
  return received.length === expectedBytes.length && timingSafeEqual(received, expectedBytes);
}

/** Adds a hook rejecting requests under `prefix` that lack the cluster token. */
export function requireToken(app: HttpServer, prefix: string, token: string, logger: Logger): void {
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith(prefix)) return;
    if (bearerTokenMatches(request.headers.authorization, token)) return;
    logger.warn({ reqId: request.id, remote: request.ip, url: request.url }, 'request rejected: missing or invalid cluster token');
    throw new CascadeError('UNAUTHORIZED', 'The cluster token is missing or invalid; give the token the coordinator was started with (--token or CASCADE_TOKEN; a cluster started by cascade up keeps it in <data dir>/token).');
  });
}
