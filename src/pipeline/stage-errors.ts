import { CascadeError, isCascadeError } from '../shared/errors.js';

/** The two stages of the cascade: the basic model, then the category's second model. */
export type Tier = 'tier1' | 'tier2';

const ROLE: Record<Tier, string> = { tier1: 'basic model', tier2: 'second model' };

/** Codes that already name the stage, or say why no stage ran; they pass through unchanged. */
const STAGE_CODES = new Set(['TIER1_UNAVAILABLE', 'TIER2_UNAVAILABLE', 'TIER1_FAILED', 'TIER2_FAILED', 'ENGINE_TIMEOUT', 'SHUTTING_DOWN']);

/** Returns the 503 for a stage whose model has no ready replica. */
export function stageUnavailable(tier: Tier, modelId: string): CascadeError {
  const code = tier === 'tier1' ? 'TIER1_UNAVAILABLE' : 'TIER2_UNAVAILABLE';
  return new CascadeError(code, `No ready engine serves the ${ROLE[tier]} '${modelId}': every replica is down or still loading. Retry later, or check GET /v1/cluster.`, { model: modelId, stage: tier, retryAfterSeconds: 2 });
}

/** Returns the 504 for a stage whose engines did not respond within the call timeout. */
export function stageTimedOut(tier: Tier, modelId: string, reason: string): CascadeError {
  return new CascadeError('ENGINE_TIMEOUT', `The ${ROLE[tier]} '${modelId}' timed out on every replica tried (${reason}); retry, or raise inference_timeout_ms.`, { model: modelId, stage: tier });
}

/**
 * Returns `error` as the failure of a stage, naming the stage and the model. Errors
 * that already carry a stage code are returned as they are.
 */
export function stageFailed(tier: Tier, modelId: string, error: unknown, details: Record<string, unknown> = {}): CascadeError {
  if (isCascadeError(error) && STAGE_CODES.has(error.code)) return error;
  const code = tier === 'tier1' ? 'TIER1_FAILED' : 'TIER2_FAILED';
  const reason = (error instanceof Error ? error.message : String(error)).replace(/[.\s]+$/, '');
  return new CascadeError(code, `The ${ROLE[tier]} '${modelId}' failed: ${reason}. Retry; if it keeps failing, GET /v1/cluster shows the state of its engines.`, { model: modelId, stage: tier, ...details }, { cause: error });
}
