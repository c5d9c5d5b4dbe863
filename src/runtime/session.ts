import ort from 'onnxruntime-node';
import { CascadeError, describeError } from '../shared/errors.js';

export interface SessionSettings {
  /** Threads ONNX Runtime uses inside one operator; 0 lets it pick one per core. */
  intraOpThreads: number;
}

/**
 * One ONNX Runtime session with a single float32 image input and a single output.
 * Callers may start runs concurrently, but the runs never overlap. onnxruntime-node 1.23
 * runs each inference synchronously on the JavaScript thread: its binding's `run` is
 * synchronous and only deferred by one `setImmediate`. So a process runs one inference
 * at a time across all its sessions, and its event loop waits until each one ends.
 * More cores help one process only through `intraOpThreads`.
 */
export class ModelSession {
  private closed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async create(modelId: string, onnxBytes: Uint8Array, settings: SessionSettings): Promise<ModelSession> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(onnxBytes, {
        executionProviders: ['cpu'],
        graphOptimizationLevel: 'all',
        intraOpNumThreads: settings.intraOpThreads,
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
    return new ModelSession(session, inputName, outputName);
  }

  /** Runs one image tensor of the given shape and returns the first output's values. */
  async run(input: Float32Array, shape: number[]): Promise<Float32Array> {
    if (this.closed) throw new CascadeError('SHUTTING_DOWN', 'The model session is closed.');
    const feeds = { [this.inputName]: new ort.Tensor('float32', input, shape) };
    const results = await this.session.run(feeds);
    const output = results[this.outputName];
    if (output === undefined || !(output.data instanceof Float32Array)) {
      throw new CascadeError('INFERENCE_FAILED', `The model output '${this.outputName}' is not a float32 tensor.`);
    }
    return output.data;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}
