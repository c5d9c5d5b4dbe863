import ort from 'onnxruntime-node';
import { CascadeError, describeError } from '../shared/errors.js';
import type { ModelSession, SessionOutput } from './session.js';

/**
 * One ONNX Runtime session in the current thread, with a single float32 image input and
 * a single output. onnxruntime-node 1.23 runs each inference synchronously: its `run`
 * is only deferred by one `setImmediate`, so the calling thread waits until it ends.
 * That is why engines open these sessions inside the inference thread.
 */
export class OrtSession implements ModelSession {
  private closed = false;

  private constructor(
    private readonly modelId: string,
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async create(modelId: string, onnxBytes: Uint8Array, intraOpThreads: number): Promise<OrtSession> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(onnxBytes, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: intraOpThreads,
      });
    } catch (error) {
      throw new CascadeError('MODEL_LOAD_FAILED', `ONNX Runtime could not load model '${modelId}': ${describeError(error)}`, { model: modelId }, { cause: error });
    }
    const inputName = session.inputNames[0];
    const outputName = session.outputNames[0];
    if (inputName === undefined || outputName === undefined) {
      await session.release();
      throw new CascadeError('MODEL_LOAD_FAILED', `Model '${modelId}' has no input or no output; Cascade needs one image input and one class output.`, { model: modelId });
    }
    return new OrtSession(modelId, session, inputName, outputName);
  }

  async run(input: Float32Array, shape: number[]): Promise<SessionOutput> {
    if (this.closed) throw new CascadeError('SHUTTING_DOWN', 'The model session is closed.');
    const feeds = { [this.inputName]: new ort.Tensor('float32', input, shape) };
    const results = await this.runFeeds(feeds);
    const output = results[this.outputName];
    if (output === undefined || !(output.data instanceof Float32Array)) {
      throw new CascadeError('INFERENCE_FAILED', `Model '${this.modelId}' returned no float32 tensor '${this.outputName}'; Cascade needs float32 class scores.`, { model: this.modelId });
    }
    return { data: output.data, dims: output.dims.map(Number) };
  }

  private async runFeeds(feeds: ort.InferenceSession.FeedsType): Promise<ort.InferenceSession.ReturnType> {
    try {
      return await this.session.run(feeds);
    } catch (error) {
      throw new CascadeError('INFERENCE_FAILED', `ONNX Runtime failed to run model '${this.modelId}': ${describeError(error)}`, { model: this.modelId }, { cause: error });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}
