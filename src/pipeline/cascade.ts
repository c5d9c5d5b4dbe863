import type { ModelDescriptor } from '../runtime/loaded-model.js';
import type { RgbImage } from '../runtime/image.js';
import { rankClasses, type RankedClass } from '../runtime/postprocess.js';
import { CascadeError } from '../shared/errors.js';
import { buildAnswer, type CascadeAnswer } from './answer.js';
import { stageFailed, stageUnavailable, type Tier } from './stage-errors.js';

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
 * model names the disease, and both results are combined into the response.
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
    if (descriptor === null) throw stageUnavailable(context.tier, modelId);
    try {
      const probabilities = await this.executor.classify(modelId, image, context);
      return rankClasses(probabilities, descriptor.labels);
    } catch (error) {
      throw stageFailed(context.tier, modelId, error);
    }
  }
}
