import { join } from 'node:path';
import { loadClusterConfig } from '../../src/config/load.js';
import { CascadePipeline } from '../../src/pipeline/cascade.js';
import type { CascadeAnswer } from '../../src/pipeline/answer.js';
import { LocalExecutor } from '../../src/pipeline/local-executor.js';
import { decodeImage } from '../../src/runtime/image.js';
import type { LoadedModel } from '../../src/runtime/loaded-model.js';
import { loadModel } from '../../src/runtime/loader.js';
import { defaultSourceSettings } from '../../src/sources/index.js';
import { silentLogger } from '../../src/shared/logger.js';

/**
 * The cascade of a configuration run in the test process, without HTTP: the expected
 * answer for any photo, to compare with what the cluster returns.
 */
export class ReferenceCascade {
  private constructor(
    private readonly pipeline: CascadePipeline,
    private readonly models: Map<string, LoadedModel>,
    private readonly limits: ReturnType<typeof loadClusterConfig>['limits'],
  ) {}

  static async load(configDir: string, cacheDir: string): Promise<ReferenceCascade> {
    const config = loadClusterConfig([configDir]);
    const sources = { ...defaultSourceSettings(join(cacheDir, 'reference-cache')), progress: false };
    const models = new Map<string, LoadedModel>();
    for (const model of [config.basic, ...config.second]) {
      models.set(model.id, await loadModel(model, { sources, session: { intraOpThreads: 1 }, logger: silentLogger() }));
    }
    const categories = new Map(config.second.map((model) => [model.category, model.id]));
    const pipeline = new CascadePipeline(new LocalExecutor(models), () => ({ basicModelId: config.basic.id, secondModelFor: (index) => categories.get(index) ?? null }));
    return new ReferenceCascade(pipeline, models, config.limits);
  }

  model(id: string): LoadedModel | undefined {
    return this.models.get(id);
  }

  async predict(bytes: Buffer): Promise<CascadeAnswer> {
    return this.pipeline.predict(await decodeImage(bytes, this.limits), 'reference');
  }

  async close(): Promise<void> {
    for (const model of this.models.values()) await model.close();
  }
}
