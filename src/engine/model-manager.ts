import type { ModelConfig } from '../config/types.js';
import type { LoadedModel } from '../runtime/loaded-model.js';
import { loadModel, type LoadOptions } from '../runtime/loader.js';
import type { RgbImage } from '../runtime/image.js';
import { CascadeError, describeError, isCascadeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Assignment, ReplicaReport } from '../shared/protocol.js';
import type { ModelState } from '../shared/states.js';

export interface ModelManagerOptions {
  loadOptions: Omit<LoadOptions, 'logger' | 'signal' | 'onState'>;
  loadTimeoutMs: number;
  logger: Logger;
  /** Called after any replica changes state, so the engine can report it at once. */
  onChange?: () => void;
  /** Replaces the real loader in unit tests. */
  load?: (config: ModelConfig, options: LoadOptions) => Promise<LoadedModel>;
}

interface Replica {
  config: ModelConfig;
  configHash: string;
  state: ModelState;
  reason: string;
  model: LoadedModel | null;
  abort: AbortController | null;
  /** Failed loads of this configuration so far, for the retry backoff. */
  failures: number;
  /** When a failed load may be tried again; null when it must not be (a broken file). */
  retryAt: number | null;
}

/** Failures a retry cannot fix: the file itself is wrong, so loading it again gives the same result. */
const PERMANENT_LOAD_FAILURES = new Set(['MODEL_FORMAT_UNKNOWN', 'MODEL_LOAD_FAILED', 'MODEL_LAYER_UNSUPPORTED', 'MODEL_LABELS_MISMATCH', 'MODEL_CHECKSUM_MISMATCH', 'MODEL_NOT_SHARED']);
const RETRY_BASE_DELAY_MS = 5_000;
const RETRY_MAX_DELAY_MS = 300_000;

/**
 * Owns the models of one engine: loads what is assigned, replaces a model when its
 * configuration changes (the old version serves until the new one is warm), unloads
 * what is no longer assigned after its in-flight inferences finish.
 */
export class ModelManager {
  private readonly replicas = new Map<string, Replica>();
  private readonly draining = new Set<Promise<void>>();
  /** Inferences running per loaded version; a version is closed only at zero. */
  private readonly inflight = new Map<LoadedModel, number>();
  private closed = false;

  private loadTimeoutMs: number;

  constructor(private readonly options: ModelManagerOptions) {
    this.loadTimeoutMs = options.loadTimeoutMs;
  }

  /** Adopts the coordinator's load timeout for loads that start from now on. */
  setLoadTimeout(loadTimeoutMs: number): void {
    if (Number.isInteger(loadTimeoutMs) && loadTimeoutMs > 0) this.loadTimeoutMs = loadTimeoutMs;
  }

  /**
   * Starts again the loads that failed for a reason a retry can fix (a download that
   * failed, a load that timed out), with exponential backoff from 5 s to 5 min.
   */
  retryFailedLoads(now = Date.now()): void {
    if (this.closed) return;
    for (const replica of this.replicas.values()) {
      if (replica.state !== 'failed' || replica.retryAt === null || replica.retryAt > now) continue;
      this.options.logger.info({ model: replica.config.id, failures: replica.failures }, 'retrying a failed model load');
      this.startLoad({ model: replica.config, configHash: replica.configHash }, replica);
    }
  }

  /** Brings the loaded set in line with the coordinator's assignments. */
  reconcile(assignments: Assignment[]): void {
    if (this.closed) return;
    const assigned = new Map(assignments.map((assignment) => [assignment.model.id, assignment]));
    for (const [modelId, replica] of this.replicas) {
      if (!assigned.has(modelId)) this.unload(modelId, replica, 'no longer assigned to this server');
    }
    for (const assignment of assigned.values()) {
      const current = this.replicas.get(assignment.model.id);
      if (current === undefined || current.configHash !== assignment.configHash) this.startLoad(assignment, current);
    }
  }

  /** Classifies an image with a ready model; the count of in-flight calls guards unloading. */
  async classify(modelId: string, image: RgbImage): Promise<{ probabilities: number[]; version: string }> {
    const replica = this.replicas.get(modelId);
    if (replica === undefined) {
      throw new CascadeError('MODEL_NOT_FOUND', `Model '${modelId}' is not assigned to this engine; the coordinator's routing table may be stale.`, { model: modelId });
    }
    const model = replica.model;
    if (model === null) {
      throw new CascadeError('MODEL_NOT_READY', `Model '${modelId}' is ${replica.state} on this engine (${replica.reason}); retry when it is ready.`, { model: modelId, state: replica.state });
    }
    this.inflight.set(model, (this.inflight.get(model) ?? 0) + 1);
    try {
      const probabilities = await model.classify(image);
      return { probabilities, version: model.descriptor.version };
    } finally {
      this.inflight.set(model, (this.inflight.get(model) ?? 1) - 1);
    }
  }

  /** Returns the model whose input size the caller needs to resize images for. */
  get(modelId: string): LoadedModel | null {
    return this.replicas.get(modelId)?.model ?? null;
  }

  report(): ReplicaReport[] {
    return [...this.replicas.entries()].map(([modelId, replica]) => ({
      modelId,
      state: replica.state,
      reason: replica.reason,
      configHash: replica.configHash,
      descriptor: replica.model?.descriptor ?? null,
    }));
  }

  /** Returns whether every assigned model is loaded and warmed up. */
  allReady(): boolean {
    return [...this.replicas.values()].every((replica) => replica.state === 'ready');
  }

  /** Cancels loads, waits for in-flight inferences, then releases every session. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [modelId, replica] of this.replicas) this.unload(modelId, replica, 'engine shutting down');
    await Promise.allSettled([...this.draining]);
  }

  private startLoad(assignment: Assignment, previous: Replica | undefined): void {
    previous?.abort?.abort();
    const serving = previous?.model ?? null;
    const replica: Replica = {
      config: assignment.model,
      configHash: assignment.configHash,
      state: serving === null ? 'pending' : 'ready',
      reason: serving === null ? 'assigned by the coordinator' : 'serving the previous version; new version pending',
      // A replacement keeps serving the previous version until the new one is ready.
      model: previous?.model ?? null,
      abort: new AbortController(),
      failures: previous?.configHash === assignment.configHash ? previous.failures : 0,
      retryAt: null,
    };
    this.replicas.set(assignment.model.id, replica);
    void this.runLoad(replica, previous?.model ?? null);
  }

  private async runLoad(replica: Replica, previousModel: LoadedModel | null): Promise<void> {
    const log = this.options.logger.child({ model: replica.config.id });
    const abort = replica.abort ?? new AbortController();
    const timeoutMs = this.loadTimeoutMs;
    const timeout = setTimeout(() => abort.abort(new CascadeError('ENGINE_TIMEOUT', `Loading model '${replica.config.id}' took longer than load_timeout_ms (${timeoutMs} ms).`)), timeoutMs);
    const load = this.options.load ?? loadModel;
    log.info({ source: replica.config.source }, 'model load started');
    try {
      const model = await load(replica.config, {
        ...this.options.loadOptions,
        // The loader adds the model id to its own log lines.
        logger: this.options.logger,
        signal: abort.signal,
        onState: (state, reason) => this.setState(replica, state, reason),
      });
      if (this.replicas.get(replica.config.id) !== replica || abort.signal.aborted) {
        await model.close();
        return;
      }
      replica.model = model;
      replica.abort = null;
      this.setState(replica, 'ready', `version ${model.descriptor.version.slice(0, 12)} loaded and warmed up`);
      if (previousModel !== null && previousModel !== model) this.drainAndClose(previousModel, log);
    } catch (error) {
      if (this.replicas.get(replica.config.id) !== replica) return;
      const cause = abort.signal.aborted && isCascadeError(abort.signal.reason) ? abort.signal.reason : error;
      const code = isCascadeError(cause) ? cause.code : undefined;
      replica.abort = null;
      replica.failures += 1;
      replica.retryAt = code !== undefined && PERMANENT_LOAD_FAILURES.has(code) ? null : Date.now() + retryDelayMs(replica.failures);
      // An entry whose configuration is unchanged is not loaded again, so the fix must
      // change it: a new path, a sha256, or other labels.
      const retry = replica.retryAt === null ? 'not retried: fix the file or the entry, then apply the entry with a new path or its sha256' : `retried in ${Math.round((replica.retryAt - Date.now()) / 1000)} s`;
      this.setState(replica, 'failed', `${describeError(cause)} (${retry})`);
      log.error({ err: cause, code, failures: replica.failures }, 'model load failed');
    } finally {
      clearTimeout(timeout);
    }
  }

  private setState(replica: Replica, state: ModelState, reason: string): void {
    // While an older version still serves, the replica stays ready until the new one is.
    if (replica.model !== null && state !== 'ready' && state !== 'failed') {
      replica.reason = `serving the previous version; new version ${state}: ${reason}`;
      return;
    }
    if (state === 'failed' && replica.model !== null) {
      replica.state = 'ready';
      replica.reason = `serving the previous version; the new version failed: ${reason}`;
      return;
    }
    replica.state = state;
    replica.reason = reason;
    this.options.onChange?.();
  }

  private unload(modelId: string, replica: Replica, reason: string): void {
    replica.abort?.abort();
    this.replicas.delete(modelId);
    replica.state = 'unloading';
    replica.reason = reason;
    const model = replica.model;
    if (model !== null) this.drainAndClose(model, this.options.logger.child({ model: modelId }));
  }

  /** Closes a session once no inference is using it any more. */
  private drainAndClose(model: LoadedModel, log: Logger): void {
    const drained = waitUntil(() => (this.inflight.get(model) ?? 0) === 0)
      .then(() => {
        this.inflight.delete(model);
        return model.close();
      })
      .then(() => log.info({ version: model.descriptor.version }, 'model version unloaded'))
      .catch((error: unknown) => log.error({ err: error }, 'model unload failed'))
      .finally(() => this.draining.delete(drained));
    this.draining.add(drained);
  }
}

function retryDelayMs(failures: number): number {
  return Math.min(RETRY_MAX_DELAY_MS, RETRY_BASE_DELAY_MS * 2 ** Math.max(0, failures - 1));
}

function waitUntil(condition: () => boolean, intervalMs = 20): Promise<void> {
  return new Promise((resolve) => {
    const check = (): void => {
      if (condition()) resolve();
      else setTimeout(check, intervalMs);
    };
    check();
  });
}
