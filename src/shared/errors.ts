/**
 * The error catalogue. Every error that reaches an API client or a CLI user is a
 * CascadeError with a stable `code`; callers branch on `code`, never on the message.
 * Messages name the value that was found, the limit or the expected form, and the fix.
 */

export interface ErrorDefinition {
  readonly statusCode: number;
  readonly summary: string;
}

export const ERROR_CATALOGUE = {
  // Configuration: a CLI exit, or the response to POST /internal/v1/config.
  CONFIG_INVALID: { statusCode: 422, summary: 'A configuration file is invalid' },
  CONFIG_NOT_FOUND: { statusCode: 500, summary: 'A configuration file does not exist' },

  // Request input (4xx).
  IMAGE_MISSING: { statusCode: 400, summary: 'The request carries no image' },
  IMAGE_EMPTY: { statusCode: 400, summary: 'The image body is empty' },
  IMAGE_UNSUPPORTED_TYPE: { statusCode: 415, summary: 'The content type is not an image type' },
  IMAGE_UNSUPPORTED_FORMAT: { statusCode: 415, summary: 'The image format is not supported' },
  IMAGE_UNDECODABLE: { statusCode: 422, summary: 'The image could not be decoded' },
  IMAGE_TOO_SMALL: { statusCode: 422, summary: 'The image is smaller than the minimum size' },
  IMAGE_TOO_LARGE: { statusCode: 413, summary: 'The image has more pixels than allowed' },
  BODY_TOO_LARGE: { statusCode: 413, summary: 'The request body is larger than allowed' },
  REQUEST_INVALID: { statusCode: 400, summary: 'The request is invalid' },
  ROUTE_NOT_FOUND: { statusCode: 404, summary: 'No such route' },
  METHOD_NOT_ALLOWED: { statusCode: 405, summary: 'The route exists but not for this method' },
  MODEL_NOT_FOUND: { statusCode: 404, summary: 'No such model' },
  UNAUTHORIZED: { statusCode: 401, summary: 'The request lacks valid credentials' },
  ENGINE_REPLACED: { statusCode: 409, summary: 'Another engine has taken over this server' },
  ENGINE_CONFLICT: { statusCode: 409, summary: 'Another engine serves this server and is alive' },
  COORDINATOR_UNREACHABLE: { statusCode: 503, summary: 'A command could not reach the coordinator' },

  // Pipeline stages (5xx).
  TIER1_UNAVAILABLE: { statusCode: 503, summary: 'No ready engine holds the basic model' },
  TIER1_FAILED: { statusCode: 502, summary: 'The basic model failed' },
  TIER2_UNAVAILABLE: { statusCode: 503, summary: 'No ready engine holds the second model' },
  TIER2_FAILED: { statusCode: 502, summary: 'The second model failed' },
  ENGINE_TIMEOUT: { statusCode: 504, summary: 'An engine call timed out' },
  INFERENCE_FAILED: { statusCode: 500, summary: 'Inference failed inside an engine' },
  MODEL_NOT_READY: { statusCode: 503, summary: 'The model is not loaded and warmed up' },
  SHUTTING_DOWN: { statusCode: 503, summary: 'The process is shutting down' },

  // Model loading.
  MODEL_FETCH_FAILED: { statusCode: 502, summary: 'The model file could not be fetched' },
  MODEL_CHECKSUM_MISMATCH: { statusCode: 502, summary: 'The model file does not match its sha256' },
  MODEL_NOT_SHARED: { statusCode: 502, summary: 'The Google Drive file is not shared publicly' },
  MODEL_FORMAT_UNKNOWN: { statusCode: 422, summary: 'The model file format is not recognised' },
  MODEL_LOAD_FAILED: { statusCode: 422, summary: 'The model file could not be loaded' },
  MODEL_LAYER_UNSUPPORTED: { statusCode: 422, summary: 'The model uses an unsupported layer or option' },
  MODEL_LABELS_MISMATCH: { statusCode: 422, summary: 'The label count differs from the model outputs' },

  INTERNAL: { statusCode: 500, summary: 'Internal error' },
} as const satisfies Record<string, ErrorDefinition>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class CascadeError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CascadeError';
    this.code = code;
    this.statusCode = ERROR_CATALOGUE[code].statusCode;
    this.details = details;
  }

  /** Body sent to API clients: stable code, message, request id and details. */
  toJSON(requestId?: string): Record<string, unknown> {
    const body: Record<string, unknown> = { code: this.code, message: this.message };
    if (requestId !== undefined) body.requestId = requestId;
    if (Object.keys(this.details).length > 0) body.details = this.details;
    return body;
  }
}

/** Reads an API error body, `{ code, message }`, from another process; null for any other text. */
export function parseErrorBody(text: string): { code: string; message: string } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null || !('code' in parsed) || !('message' in parsed)) return null;
  const { code, message } = parsed;
  return typeof code === 'string' && typeof message === 'string' ? { code, message } : null;
}

/** Tells whether a string received from another thread or process is a catalogue code. */
export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, value);
}

export function isCascadeError(value: unknown): value is CascadeError {
  return value instanceof CascadeError;
}

/** Formats any thrown value as one line for logs and CLI output. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
