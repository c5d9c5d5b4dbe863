import type { ModelConfig } from '../config/types.js';
import { detectFormat } from '../formats/index.js';
import { createSource } from '../sources/index.js';
import type { SourceSettings } from '../sources/types.js';
import type { Logger } from '../shared/logger.js';
import type { ModelState } from '../shared/states.js';
import { LoadedModel } from './loaded-model.js';
import { openSession, type SessionSettings } from './session.js';

export interface LoadOptions {
  sources: SourceSettings;
  session: SessionSettings;
  logger: Logger;
  signal?: AbortSignal;
  /** Called on every step, so the engine can report progress to the coordinator. */
  onState?: (state: ModelState, reason: string) => void;
}

/**
 * Loads a model the way an engine does: fetch the file, convert it to ONNX when it is
 * not ONNX already, open an ONNX Runtime session, check the labels and warm it up.
 * Only a model that passed every step is returned.
 */
export async function loadModel(config: ModelConfig, options: LoadOptions): Promise<LoadedModel> {
  const log = options.logger.child({ model: config.id });
  const report = (state: ModelState, reason: string): void => options.onState?.(state, reason);

  report('fetching', `fetching ${config.source}`);
  const source = createSource(config.source, options.sources);
  const fetched = await source.fetch({ ref: config.source, sha256: config.sha256, logger: log, ...(options.signal ? { signal: options.signal } : {}) });
  options.signal?.throwIfAborted();

  report('loading', `converting and loading ${fetched.sizeBytes} bytes`);
  const format = await detectFormat(fetched.path, config.format, { cacheDir: options.sources.cacheDir });
  const converted = await format.convert(fetched.path);
  const session = await openSession(config.id, converted.onnx, options.session);

  try {
    const model = new LoadedModel(config, session, converted, fetched.sha256);
    report('warming', 'running a warm-up inference');
    await model.warmUp();
    options.signal?.throwIfAborted();
    log.info({ version: model.descriptor.version, format: format.name, input: [model.descriptor.inputHeight, model.descriptor.inputWidth] }, 'model loaded');
    return model;
  } catch (error) {
    await session.close();
    throw error;
  }
}
