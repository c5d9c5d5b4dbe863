import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { CascadeError, describeError } from '../shared/errors.js';
import { TransientError, parseRetryAfterMs } from './retry.js';

export interface OpenedResponse {
  /** URL that produced this response, after redirects. */
  url: URL;
  statusCode: number;
  headers: IncomingHttpHeaders;
  /** The unread body; pass it to `discardBody` when it is not needed. */
  body: Readable;
}

export interface HttpClientOptions {
  /** Timeout for connecting, for the response headers and for each gap between body chunks. */
  requestTimeoutMs: number;
  signal?: AbortSignal | undefined;
}

const MAX_REDIRECTS = 10;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

/**
 * Error codes of failures that may pass on their own: refused or reset connections,
 * timeouts, sockets closed mid-body (a truncated download) and temporary DNS failures.
 * ENOTFOUND is left out because a misspelt host never starts resolving.
 */
const TRANSIENT_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
]);

/**
 * A GET client for one fetch, with its own connection pool and per-attempt timeouts.
 * It follows redirects itself, so the final URL is known when a relative form action
 * must be resolved against it. It keeps a cookie jar per host, because Drive's older
 * confirmation flow expects its `download_warning` cookie back.
 *
 * Downloads use Node's http client, not undici. undici 7 throws an uncatchable
 * assertion when a server closes the connection while a body is paused for
 * backpressure, for example a close-delimited HTTP/1.0 response written to a slower
 * disk. That ends the engine process. The fix is only in undici 8, which needs Node.js 22.
 */
export class HttpClient {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgent = new https.Agent({ keepAlive: true });
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly cookiesByHost = new Map<string, Map<string, string>>();

  constructor(options: HttpClientOptions) {
    this.timeoutMs = options.requestTimeoutMs;
    this.signal = options.signal;
  }

  /**
   * Sends a GET and follows redirects. Network failures become TransientError. The
   * caller judges the status, and the body is still unread.
   */
  async open(url: URL): Promise<OpenedResponse> {
    let current = url;
    for (let redirects = 0; redirects <= MAX_REDIRECTS; redirects++) {
      const response = await this.send(current);
      this.storeCookies(current, response.headers);

      const location = headerValue(response.headers, 'location');
      if (!REDIRECT_STATUSES.has(response.statusCode) || location === undefined) return response;

      await discardBody(response.body);
      current = resolveRedirect(current, location);
    }
    throw new CascadeError(
      'MODEL_FETCH_FAILED',
      `${url.origin}${url.pathname} redirected more than ${MAX_REDIRECTS} times. Check the URL in \`model\`.`,
      { url: describeUrl(url) },
    );
  }

  /** Returns the value of the first cookie set by `host` whose name starts with `prefix`, or null. */
  findCookie(host: string, prefix: string): string | null {
    const cookies = this.cookiesByHost.get(host);
    if (cookies === undefined) return null;
    for (const [name, value] of cookies) {
      if (name.startsWith(prefix)) return value;
    }
    return null;
  }

  async close(): Promise<void> {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /**
   * Sends one GET. The socket timeout covers connecting, waiting for the headers and
   * every gap between body chunks, so a server that goes silent mid-body also fails.
   */
  private send(url: URL): Promise<OpenedResponse> {
    const headers: Record<string, string> = { 'accept-encoding': 'identity', 'user-agent': 'cascade-model-fetch' };
    const cookie = this.cookieHeader(url.host);
    if (cookie !== null) headers.cookie = cookie;
    const secure = url.protocol === 'https:';
    const options = { headers, agent: secure ? this.httpsAgent : this.httpAgent, timeout: this.timeoutMs, ...(this.signal ? { signal: this.signal } : {}) };

    return new Promise((resolve, reject) => {
      const onResponse = (response: IncomingMessage): void => {
        resolve({ url, statusCode: response.statusCode ?? 0, headers: response.headers, body: response });
      };
      const request = secure ? https.get(url, options, onResponse) : http.get(url, options, onResponse);
      request.on('timeout', () => request.destroy(silenceError(url, this.timeoutMs)));
      request.on('error', (error) => reject(asTransientIfNetwork(error)));
    });
  }

  private storeCookies(url: URL, headers: IncomingHttpHeaders): void {
    const setCookie = headers['set-cookie'];
    const lines = setCookie === undefined ? [] : [setCookie].flat();
    for (const line of lines) {
      const pair = line.split(';', 1)[0] ?? '';
      const separator = pair.indexOf('=');
      if (separator <= 0) continue;

      const jar = this.cookiesByHost.get(url.host) ?? new Map<string, string>();
      jar.set(pair.slice(0, separator).trim(), pair.slice(separator + 1).trim());
      this.cookiesByHost.set(url.host, jar);
    }
  }

  private cookieHeader(host: string): string | null {
    const jar = this.cookiesByHost.get(host);
    if (jar === undefined || jar.size === 0) return null;
    return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

/** Reads a body to its end and drops it, so its connection can serve the next request. */
export async function discardBody(body: Readable): Promise<void> {
  body.resume();
  await finished(body).catch(() => undefined);
}

/**
 * Drains the body and throws unless the status is 2xx: TransientError for 429 and 5xx
 * (with the Retry-After hint), MODEL_FETCH_FAILED for any other status.
 */
export async function assertSuccessStatus(response: OpenedResponse, shownRef: string): Promise<void> {
  const status = response.statusCode;
  if (status >= 200 && status < 300) return;

  await discardBody(response.body);
  if (status === 429 || status >= 500) {
    const retryAfterMs = parseRetryAfterMs(headerValue(response.headers, 'retry-after'));
    throw new TransientError(`HTTP ${status} from ${describeUrl(response.url)}`, retryAfterMs);
  }
  throw new CascadeError(
    'MODEL_FETCH_FAILED',
    `Downloading model '${shownRef}' failed with HTTP ${status} from ${describeUrl(response.url)}. ` +
      'Check that the URL in `model` is correct and that the file is public.',
    { ref: shownRef, statusCode: status },
  );
}

/** Returns the first value of a response header, or undefined when it is absent. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Returns Content-Length as a number, or null when it is absent or malformed. */
export function contentLengthOf(headers: IncomingHttpHeaders): number | null {
  const value = headerValue(headers, 'content-length');
  if (value === undefined || !/^\d+$/.test(value.trim())) return null;
  return Number(value);
}

export function isHtmlResponse(response: OpenedResponse): boolean {
  const type = headerValue(response.headers, 'content-type') ?? '';
  return /^\s*text\/html\b/i.test(type);
}

/** Formats a URL for messages and logs without its query string, which may carry a token. */
export function describeUrl(url: URL): string {
  return `${url.origin}${url.pathname}${url.search === '' ? '' : '?…'}`;
}

/** Wraps a network failure in TransientError and returns any other error unchanged. */
export function asTransientIfNetwork(error: unknown): unknown {
  const code = errorCode(error);
  if (code === null || !TRANSIENT_ERROR_CODES.has(code)) return error;
  return new TransientError(`${describeError(error)} (${code})`, null, { cause: error });
}

/** Builds the error for a socket timeout with a network error code, so the retry loop treats it as one. */
function silenceError(url: URL, timeoutMs: number): Error {
  return Object.assign(new Error(`${describeUrl(url)} sent nothing for ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
}

function errorCode(error: unknown): string | null {
  if (!(error instanceof Error) || !('code' in error)) return null;
  return typeof error.code === 'string' ? error.code : null;
}

function resolveRedirect(from: URL, location: string): URL {
  const target = new URL(location, from);
  if (target.protocol !== 'http:' && target.protocol !== 'https:') {
    throw new CascadeError(
      'MODEL_FETCH_FAILED',
      `${describeUrl(from)} redirected to a ${target.protocol} URL; only http and https are followed.`,
      { url: describeUrl(from) },
    );
  }
  return target;
}
