import type { LoadedModel, ModelDescriptor } from '../runtime/loaded-model.js';
import type { RgbImage } from '../runtime/image.js';
import type { ModelExecutor } from './cascade.js';
import { ResizedImages } from './resized-images.js';

/** Runs models loaded in this process: the cascade without HTTP, for benchmarks and tools. */
export class LocalExecutor implements ModelExecutor {
  /** Shares one resize between tiers of the same input size, as RemoteExecutor does. */
  private readonly resized = new ResizedImages();

  constructor(private readonly models: ReadonlyMap<string, LoadedModel>) {}

  describe(modelId: string): ModelDescriptor | null {
    return this.models.get(modelId)?.descriptor ?? null;
  }

  async classify(modelId: string, image: RgbImage): Promise<number[]> {
    const model = this.models.get(modelId);
    if (model === undefined) throw new Error(`model '${modelId}' is not loaded in this process`);
    return model.classify(await this.resized.forModel(image, model.descriptor));
  }
}
