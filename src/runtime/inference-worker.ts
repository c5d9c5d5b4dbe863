/**
 * Entry of the inference thread. It owns the ONNX Runtime sessions and replies to the
 * requests InferenceThread posts. Each inference blocks only this thread.
 */
import { parentPort } from 'node:worker_threads';
import { describeError, isCascadeError } from '../shared/errors.js';
import type { ThreadError, ThreadReply, ThreadRequest } from './inference-thread.js';
import { OrtSession } from './ort-session.js';

const sessions = new Map<number, OrtSession>();
let nextSessionId = 1;

const port = parentPort;
if (port === null) throw new Error('inference-worker.js runs only as a worker thread.');

port.on('message', (request: ThreadRequest) => {
  void handle(request).then((reply) => port.postMessage(reply));
});

async function handle(request: ThreadRequest): Promise<ThreadReply> {
  try {
    return { id: request.id, ok: true, ...(await perform(request)) };
  } catch (error) {
    return { id: request.id, ok: false, error: toThreadError(error) };
  }
}

async function perform(request: ThreadRequest): Promise<Omit<ThreadReply & { ok: true }, 'id' | 'ok'>> {
  switch (request.op) {
    case 'open': {
      const session = await OrtSession.create(request.modelId, request.onnx, request.intraOpThreads);
      const sessionId = nextSessionId++;
      sessions.set(sessionId, session);
      return { sessionId };
    }
    case 'run':
      return { output: await sessionFor(request.sessionId).run(request.input, request.shape) };
    case 'close':
      await sessions.get(request.sessionId)?.close();
      sessions.delete(request.sessionId);
      return {};
  }
}

function sessionFor(sessionId: number): OrtSession {
  const session = sessions.get(sessionId);
  if (session === undefined) throw new Error(`no open session ${sessionId} in the inference thread`);
  return session;
}

function toThreadError(error: unknown): ThreadError {
  if (isCascadeError(error)) return { code: error.code, message: error.message, details: { ...error.details } };
  return { code: 'INFERENCE_FAILED', message: `Inference failed: ${describeError(error)}`, details: {} };
}
