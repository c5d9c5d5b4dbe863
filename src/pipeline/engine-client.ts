import { request, type Agent } from 'undici';
import type { RgbImage } from '../runtime/image.js';
import { CascadeError, describeError } from '../shared/errors.js';
import { classifyPath, HEIGHT_HEADER, PIXELS_CONTENT_TYPE, WIDTH_HEADER, type ClassifyReply } from '../shared/protocol.js';
import { REQUEST_ID_HEADER } from '../shared/http.js';
import { createAgent, schemeFor, type TlsMaterial } from '../shared/tls.js';

export interface EngineClientOptions {
  token: string;
  timeoutMs: number;
  /** Keep-alive connections per engine. */
  connectionsPerEngine: number;
  /** Call engines over https, trusting this CA; plain http when null. */
  tls: TlsMaterial | null;
}

/** Thrown when an engine call fails in a way worth retrying on another replica. */
export class EngineCallError extends Error {
  constructor(
    message: string,
    readonly kind: 'connect' | 'timeout' | 'status',
    readonly statusCode: number | null,
    readonly body: Record<string, unknown> | null,
  ) {
    super(message);
    this.name = 'EngineCallError';
  }
}

/**
 * Calls engines' internal classify endpoint over keep-alive connections (undici).
 * Images travel as raw RGB pixels already resized to the model's input size, which is
 * smaller than the original file for typical input sizes and spares the engine a decode.
 */
export class EngineClient {
  private readonly agent: Agent;
  private timeoutMs: number;

  constructor(private readonly options: EngineClientOptions) {
    this.timeoutMs = options.timeoutMs;
    this.agent = createAgent(options.tls, { connections: options.connectionsPerEngine, connectTimeoutMs: Math.min(options.timeoutMs, 5_000) });
  }

  /** Applies a new per-call timeout to calls that start from now on. */
  setTimeout(timeoutMs: number): void {
    if (Number.isInteger(timeoutMs) && timeoutMs > 0) this.timeoutMs = timeoutMs;
  }

  async classify(address: string, modelId: string, image: RgbImage, requestId: string, signal?: AbortSignal): Promise<ClassifyReply> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const combined = signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
    let response;
    try {
      response = await request(`${schemeFor(this.options.tls)}://${address}${classifyPath(modelId)}`, {
        method: 'POST',
        dispatcher: this.agent,
        headers: {
          'content-type': PIXELS_CONTENT_TYPE,
          [WIDTH_HEADER]: String(image.width),
          [HEIGHT_HEADER]: String(image.height),
          authorization: `Bearer ${this.options.token}`,
          [REQUEST_ID_HEADER]: requestId,
        },
        body: image.data,
        signal: combined,
      });
    } catch (error) {
      const timedOut = timeout.aborted;
      throw new EngineCallError(timedOut ? `no response within ${this.timeoutMs} ms` : describeError(error), timedOut ? 'timeout' : 'connect', null, null);
    }
    return readReply(response.statusCode, await response.body.text());
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function readReply(statusCode: number, text: string): ClassifyReply {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EngineCallError(`engine returned status ${statusCode} with a body that is not JSON`, 'status', statusCode, null);
  }
  if (statusCode !== 200 || !isRecord(parsed)) {
    const body = isRecord(parsed) ? parsed : null;
    const message = body !== null && typeof body.message === 'string' ? body.message : `status ${statusCode}`;
    throw new EngineCallError(message, 'status', statusCode, body);
  }
  const probabilities = parsed.probabilities;
  if (!Array.isArray(probabilities) || !probabilities.every((value) => typeof value === 'number')) {
    throw new CascadeError('INFERENCE_FAILED', 'The engine response has no list of probabilities; engine and coordinator versions may differ.');
  }
  return { modelId: String(parsed.modelId), version: String(parsed.version), probabilities };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
