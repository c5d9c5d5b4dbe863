import type { ModelDescriptor } from '../runtime/loaded-model.js';
import type { RgbImage } from '../runtime/image.js';
import { rankClasses, type RankedClass } from '../runtime/postprocess.js';
import { CascadeError, isCascadeError } from '../shared/errors.js';
import { buildAnswer, type CascadeAnswer } from './answer.js';

export type Tier = 'tier1' | 'tier2';

export interface ClassifyContext {
  requestId: string;
  tier: Tier;
  signal?: AbortSignal;
}

/**
 * Runs one model on an image, wherever the model lives: in this process (benchmarks,
 * `cascade inspect`) or on an engine reached over HTTP.
 */
export interface ModelExecutor {
  /** Descriptor of a model that can serve now, or null when none can. */
  describe(modelId: string): ModelDescriptor | null;
  classify(modelId: string, image: RgbImage, context: ClassifyContext): Promise<number[]>;
}

export interface CascadeRoutes {
  basicModelId: string;
  /** Basic model output index to the id of that category's second model. */
  secondModelFor(categoryIndex: number): string | null;
}

/**
 * The two-tier cascade: the basic model picks the category, the category's second
 * model names the disease, and both results become one answer.
 */
export class CascadePipeline {
  constructor(
    private readonly executor: ModelExecutor,
    private readonly routes: () => CascadeRoutes,
  ) {}

  async predict(image: RgbImage, requestId: string, signal?: AbortSignal): Promise<CascadeAnswer> {
    const routes = this.routes();
    const category = await this.runTier1(routes.basicModelId, image, requestId, signal);
    const secondModelId = routes.secondModelFor(category.index);
    if (secondModelId === null) return buildAnswer(category, null, null);
    const diseases = await this.runTier2(secondModelId, image, requestId, signal);
    return buildAnswer(category, diseases, secondModelId);
  }

  private async runTier1(modelId: string, image: RgbImage, requestId: string, signal?: AbortSignal): Promise<RankedClass> {
    const ranked = await this.run(modelId, image, { requestId, tier: 'tier1', ...(signal ? { signal } : {}) });
    const top = ranked[0];
    if (top === undefined) throw new CascadeError('TIER1_FAILED', `The basic model '${modelId}' returned no classes.`, { model: modelId, stage: 'tier1' });
    return top;
  }

  private runTier2(modelId: string, image: RgbImage, requestId: string, signal?: AbortSignal): Promise<RankedClass[]> {
    return this.run(modelId, image, { requestId, tier: 'tier2', ...(signal ? { signal } : {}) });
  }

  private async run(modelId: string, image: RgbImage, context: ClassifyContext): Promise<RankedClass[]> {
    const descriptor = this.executor.describe(modelId);
    if (descriptor === null) throw unavailable(context.tier, modelId);
    try {
      const probabilities = await this.executor.classify(modelId, image, context);
      return rankClasses(probabilities, descriptor.labels);
    } catch (error) {
      throw stageError(context.tier, modelId, error);
    }
  }
}

function unavailable(tier: Tier, modelId: string): CascadeError {
  const code = tier === 'tier1' ? 'TIER1_UNAVAILABLE' : 'TIER2_UNAVAILABLE';
  const role = tier === 'tier1' ? 'basic model' : 'second model';
  return new CascadeError(code, `No ready engine holds the ${role} '${modelId}'; retry after its engine reports it ready (see GET /v1/cluster).`, { model: modelId, stage: tier, retryAfterSeconds: 2 });
}

/** Names the failing stage and model; codes that already say so pass through. */
function stageError(tier: Tier, modelId: string, error: unknown): CascadeError {
  const passThrough = new Set(['TIER1_UNAVAILABLE', 'TIER2_UNAVAILABLE', 'TIER1_FAILED', 'TIER2_FAILED', 'ENGINE_TIMEOUT', 'SHUTTING_DOWN']);
  if (isCascadeError(error) && passThrough.has(error.code)) return error;
  const code = tier === 'tier1' ? 'TIER1_FAILED' : 'TIER2_FAILED';
  const role = tier === 'tier1' ? 'basic model' : 'second model';
  const reason = error instanceof Error ? error.message : String(error);
  return new CascadeError(code, `The ${role} '${modelId}' failed: ${reason}`, { model: modelId, stage: tier }, { cause: error });
}
