import { CascadeError } from '../shared/errors.js';
import { InferenceThread } from './inference-thread.js';

/**
 * Thread that runs ONNX Runtime. 'thread' (the default) runs every session of the
 * process in one worker thread, so HTTP, heartbeats and image decoding go on during an
 * inference. 'inline' runs sessions on the calling thread, which waits for each
 * inference. It suits one-shot tools and the benchmark that measures the difference.
 */
export type InferenceHost = 'thread' | 'inline';

export const INFERENCE_HOSTS: readonly InferenceHost[] = ['thread', 'inline'];

export interface SessionSettings {
  /** Threads ONNX Runtime uses inside one operator; 0 lets it pick one per core. */
  intraOpThreads: number;
  /** Host of the sessions; 'thread' when absent. */
  host?: InferenceHost;
}

/** One output tensor: its values and dimensions. */
export interface SessionOutput {
  data: Float32Array;
  dims: number[];
}

/** An open model with one float32 image input and one output. */
export interface ModelSession {
  /** Runs one input tensor of the given shape. The input's buffer may be transferred, so the caller must not reuse it. */
  run(input: Float32Array, shape: number[]): Promise<SessionOutput>;
  close(): Promise<void>;
}

// onnxruntime-node's native binding registers once per process (a second thread that
// loads it fails with "Module did not self-register"), so one process uses one host.
let processHost: InferenceHost | null = null;
let sharedThread: InferenceThread | null = null;
const stopListeners: ((error: Error) => void)[] = [];

/** Registers `listener` for the inference thread stopping, after which no model can run in this process. */
export function onInferenceThreadStopped(listener: (error: Error) => void): void {
  stopListeners.push(listener);
}

/** Opens an ONNX model in the host the settings name. */
export async function openSession(modelId: string, onnxBytes: Uint8Array, settings: SessionSettings): Promise<ModelSession> {
  const host = settings.host ?? 'thread';
  claimHost(host);
  if (host === 'inline') {
    const { OrtSession } = await import('./ort-session.js');
    return OrtSession.create(modelId, onnxBytes, settings.intraOpThreads);
  }
  sharedThread ??= new InferenceThread((error) => {
    for (const listener of stopListeners) listener(error);
  });
  return sharedThread.openSession(modelId, onnxBytes, settings.intraOpThreads);
}

function claimHost(host: InferenceHost): void {
  if (processHost === null) {
    processHost = host;
    return;
  }
  if (processHost !== host) {
    throw new CascadeError('MODEL_LOAD_FAILED', `This process already runs ONNX Runtime ${processHost === 'thread' ? 'in its inference thread' : 'inline'}, and one process can use only one host; open every session with host '${processHost}'.`, { host, processHost });
  }
}
