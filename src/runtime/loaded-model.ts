import type { ImageLimits, ModelConfig, ResizeMethod } from '../config/types.js';
import type { ConvertedModel } from '../formats/types.js';
import { CascadeError } from '../shared/errors.js';
import { decodeImage, resizeImage, type RgbImage } from './image.js';
import { defaultLabels, toProbabilities } from './postprocess.js';
import type { ModelSession } from './session.js';
import { resolveScaling, toInputTensor, type ResolvedScaling, type TensorLayout } from './tensor.js';

/** Facts about a loaded model that other processes need to send it images. */
export interface ModelDescriptor {
  id: string;
  /** sha256 of the model file: the version that is loaded. */
  version: string;
  /** Input size in pixels; null when the model takes any size (it resizes itself). */
  inputWidth: number | null;
  inputHeight: number | null;
  resize: ResizeMethod;
  labels: string[];
}

/**
 * A model ready to classify: its session plus the preprocessing and labels resolved
 * from the configuration and the model file.
 */
export class LoadedModel {
  readonly descriptor: ModelDescriptor;
  private readonly layout: TensorLayout;
  private readonly scaling: ResolvedScaling;

  constructor(
    private readonly config: ModelConfig,
    private readonly session: ModelSession,
    converted: ConvertedModel,
    version: string,
  ) {
    const [height, width] = resolveInputSize(config, converted);
    this.layout = resolveLayout(config, converted);
    this.scaling = resolveScaling(config.preprocessing.scaling, converted.hints.rescalesInGraph);
    this.descriptor = {
      id: config.id,
      version,
      inputWidth: width,
      inputHeight: height,
      resize: config.preprocessing.resize,
      labels: resolveLabels(config, converted),
    };
  }

  get id(): string {
    return this.config.id;
  }

  /** Decodes, validates and classifies an encoded image file. */
  async classifyEncoded(bytes: Buffer, limits: ImageLimits): Promise<number[]> {
    return this.classify(await decodeImage(bytes, limits));
  }

  /** Classifies decoded RGB pixels, resizing them first when they are not at input size. */
  async classify(image: RgbImage): Promise<number[]> {
    const sized = await this.resizeToInput(image);
    const tensor = toInputTensor(sized, {
      layout: this.layout,
      scaling: this.scaling,
      channelOrder: this.config.preprocessing.channelOrder,
    });
    const shape = this.layout === 'nhwc' ? [1, sized.height, sized.width, 3] : [1, 3, sized.height, sized.width];
    const raw = await this.session.run(tensor, shape);
    const probabilities = toProbabilities(raw.data, this.config.output, this.config.id);
    this.checkOutputCount(probabilities.length);
    return probabilities;
  }

  /** Runs one inference on a mid-grey image so the first real request does not pay for allocation. */
  async warmUp(): Promise<void> {
    const width = this.descriptor.inputWidth ?? 224;
    const height = this.descriptor.inputHeight ?? 224;
    const grey: RgbImage = { data: Buffer.alloc(width * height * 3, 128), width, height };
    await this.classify(grey);
  }

  async close(): Promise<void> {
    await this.session.close();
  }

  resizeToInput(image: RgbImage): Promise<RgbImage> {
    const { inputWidth, inputHeight, resize } = this.descriptor;
    if (inputWidth === null || inputHeight === null) return Promise.resolve(image);
    return resizeImage(image, inputWidth, inputHeight, resize);
  }

  private checkOutputCount(count: number): void {
    if (count !== this.descriptor.labels.length) {
      throw new CascadeError(
        'MODEL_LABELS_MISMATCH',
        `Model '${this.config.id}' returned ${count} probabilities but has ${this.descriptor.labels.length} labels; make 'labels' match the model's outputs.`,
        { model: this.config.id, outputs: count, labels: this.descriptor.labels.length },
      );
    }
  }
}

/** Returns [height, width]: the configured size, else the model's fixed input size. */
function resolveInputSize(config: ModelConfig, converted: ConvertedModel): [number | null, number | null] {
  const { width, height } = config.preprocessing;
  if (width !== null && height !== null) return [height, width];
  const layout = resolveLayout(config, converted);
  const shape = converted.inputShape;
  const modelHeight = layout === 'nhwc' ? shape[1] : shape[2];
  const modelWidth = layout === 'nhwc' ? shape[2] : shape[3];
  if (typeof modelHeight === 'number' && typeof modelWidth === 'number') return [modelHeight, modelWidth];
  if (converted.hints.height !== null && converted.hints.width !== null && !converted.hints.resizesInGraph) {
    return [converted.hints.height, converted.hints.width];
  }
  return [null, null];
}

function resolveLayout(config: ModelConfig, converted: ConvertedModel): TensorLayout {
  if (config.preprocessing.layout !== 'auto') return config.preprocessing.layout;
  return converted.layout;
}

/** Number of classes the model's output yields after postprocessing. */
export function classCount(config: ModelConfig, converted: ConvertedModel): number {
  const outputs = converted.outputShape[converted.outputShape.length - 1];
  if (typeof outputs !== 'number') {
    throw new CascadeError('MODEL_LOAD_FAILED', `Model '${config.id}' has an output of unknown size ${JSON.stringify(converted.outputShape)}; Cascade needs a fixed number of classes.`, { model: config.id });
  }
  const sigmoid = outputs === 1 && (config.output === 'auto' || config.output === 'sigmoid');
  return sigmoid ? 2 : outputs;
}

function resolveLabels(config: ModelConfig, converted: ConvertedModel): string[] {
  const count = classCount(config, converted);
  if (config.labels === null) return defaultLabels(count);
  if (config.labels.length !== count) {
    throw new CascadeError(
      'MODEL_LABELS_MISMATCH',
      `Model '${config.id}' has ${count} output classes but ${config.labels.length} labels were configured; give exactly ${count} labels in output order.`,
      { model: config.id, outputs: count, labels: config.labels.length },
    );
  }
  return [...config.labels];
}
