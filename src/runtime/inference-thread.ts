import { Worker } from 'node:worker_threads';
import { CascadeError, describeError, isErrorCode } from '../shared/errors.js';
import type { ModelSession, SessionOutput } from './session.js';

/** A request to the inference thread; `id` pairs it with its reply. */
export type ThreadRequest =
  | { id: number; op: 'open'; modelId: string; onnx: Uint8Array; intraOpThreads: number }
  | { id: number; op: 'run'; sessionId: number; input: Float32Array; shape: number[] }
  | { id: number; op: 'close'; sessionId: number };

/** An error crossing the thread boundary, rebuilt as a CascadeError on arrival. */
export interface ThreadError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export type ThreadReply =
  | { id: number; ok: true; sessionId?: number; output?: SessionOutput }
  | { id: number; ok: false; error: ThreadError };

interface Pending {
  resolve: (reply: ThreadReply & { ok: true }) => void;
  reject: (error: Error) => void;
}

/**
 * The worker thread that owns every ONNX Runtime session of the process. Replies arrive
 * in the order the thread finishes the requests. The thread does not keep the process
 * alive while no request is pending, so one-shot commands exit on their own.
 */
export class InferenceThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stopped: CascadeError | null = null;

  /** `onStop` is called once if the thread stops, with the error every later call gets. */
  constructor(private readonly onStop: (error: CascadeError) => void = () => undefined) {
    this.worker = startWorker();
    this.worker.unref();
    this.worker.on('message', (reply: ThreadReply) => this.settle(reply));
    this.worker.on('error', (error) => this.stop(`failed: ${describeError(error)}`));
    this.worker.on('exit', (code) => this.stop(`exited with code ${code}`));
  }

  async openSession(modelId: string, onnx: Uint8Array, intraOpThreads: number): Promise<ModelSession> {
    const reply = await this.send({ op: 'open', modelId, onnx, intraOpThreads }, []);
    if (reply.sessionId === undefined) throw new CascadeError('INTERNAL', 'The inference thread opened a session without returning its id.');
    return new ThreadSession(this, reply.sessionId);
  }

  async run(sessionId: number, input: Float32Array, shape: number[]): Promise<SessionOutput> {
    const reply = await this.send({ op: 'run', sessionId, input, shape }, transferable(input));
    if (reply.output === undefined) throw new CascadeError('INTERNAL', 'The inference thread finished a run without an output.');
    return reply.output;
  }

  async close(sessionId: number): Promise<void> {
    if (this.stopped !== null) return;
    await this.send({ op: 'close', sessionId }, []);
  }

  private send(request: DistributiveOmit<ThreadRequest, 'id'>, transfer: ArrayBuffer[]): Promise<ThreadReply & { ok: true }> {
    if (this.stopped !== null) return Promise.reject(this.stopped);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...request, id }, transfer);
    });
  }

  private settle(reply: ThreadReply): void {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) return;
    this.forget(reply.id);
    if (reply.ok) pending.resolve(reply);
    else pending.reject(toCascadeError(reply.error));
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }

  // A stopped thread cannot be replaced, because the native binding loads only once per
  // process. Every later call fails with INFERENCE_FAILED, and `onStop` lets the owner
  // restart the process.
  private stop(reason: string): void {
    if (this.stopped !== null) return;
    const stopped = new CascadeError('INFERENCE_FAILED', `The inference thread ${reason}; restart the process to load the models again.`);
    this.stopped = stopped;
    for (const [id, pending] of this.pending) {
      this.forget(id);
      pending.reject(stopped);
    }
    this.onStop(stopped);
  }
}

/** A session that lives in the inference thread. */
class ThreadSession implements ModelSession {
  private closed = false;

  constructor(
    private readonly thread: InferenceThread,
    private readonly sessionId: number,
  ) {}

  run(input: Float32Array, shape: number[]): Promise<SessionOutput> {
    if (this.closed) return Promise.reject(new CascadeError('SHUTTING_DOWN', 'The model session is closed.'));
    return this.thread.run(this.sessionId, input, shape);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.thread.close(this.sessionId);
  }
}

/** Lists the input's buffer for transfer when the input covers all of it, so posting moves it instead of copying it. */
function transferable(input: Float32Array): ArrayBuffer[] {
  const { buffer } = input;
  const whole = input.byteOffset === 0 && input.byteLength === buffer.byteLength;
  return whole && buffer instanceof ArrayBuffer ? [buffer] : [];
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Starts the worker from the compiled .js next to this file, or from the .ts source under tsx. */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./inference-worker.js', import.meta.url));
  // Node 20 workers do not inherit the loader that `--import tsx` registered, so the
  // worker registers tsx itself before it imports the TypeScript entry.
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const entry = new URL('./inference-worker.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true });
}

function toCascadeError(error: ThreadError): CascadeError {
  const code = isErrorCode(error.code) ? error.code : 'INFERENCE_FAILED';
  return new CascadeError(code, error.message, error.details);
}
