import { EngineCallError, type EngineClient } from './engine-client.js';
import type { ModelDescriptor } from '../runtime/loaded-model.js';
import type { RgbImage } from '../runtime/image.js';
import type { CascadeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { RouteReplica, RoutingTable } from '../shared/protocol.js';
import type { ClassifyContext, ModelExecutor } from './cascade.js';
import { ResizedImages } from './resized-images.js';
import { stageFailed, stageTimedOut, stageUnavailable } from './stage-errors.js';

/**
 * Engine statuses worth retrying elsewhere: the engine is unhealthy, or (404) it does not
 * hold the model because the routing table is older than the engine's restart.
 */
const RETRYABLE_STATUSES = new Set([404, 500, 502, 503, 504]);

/**
 * How long a replica that could not be reached (refused, reset or timed out) is tried
 * only after the others. The coordinator needs up to engine_down_after_ms to drop a
 * dead engine from the table; meanwhile requests need not wait on it first.
 */
const SUSPECT_MS = 5_000;

/**
 * Runs models on engines through the routing table. It resizes the image to the model's
 * input size and sends it to the ready replica with the fewest calls in flight, trying
 * replicas that recently could not be reached last. A failed call is retried once on
 * another replica, because a prediction is idempotent.
 */
export class RemoteExecutor implements ModelExecutor {
  /** Calls in flight per engine address, for least-outstanding-requests balancing. */
  private readonly outstanding = new Map<string, number>();
  /** Engine address to the time until which it is tried last. */
  private readonly suspectUntil = new Map<string, number>();
  private readonly resized = new ResizedImages();

  constructor(
    private readonly client: EngineClient,
    private readonly table: () => RoutingTable | null,
    private readonly logger: Logger,
    /** Breaks ties between equally loaded replicas; tests pass a fixed one. */
    private readonly random: () => number = Math.random,
  ) {}

  describe(modelId: string): ModelDescriptor | null {
    const route = this.table()?.routes[modelId];
    if (route === undefined || route.replicas.length === 0) return null;
    return route.descriptor;
  }

  async classify(modelId: string, image: RgbImage, context: ClassifyContext): Promise<number[]> {
    const route = this.table()?.routes[modelId];
    if (route === undefined || route.replicas.length === 0) throw stageUnavailable(context.tier, modelId);
    const sized = await this.resized.forModel(image, route.descriptor);
    const tried = new Set<string>();
    const failures: { address: string; error: EngineCallError }[] = [];

    for (let attempt = 0; attempt < 2; attempt += 1) {
      const replica = this.pick(route.replicas, tried);
      if (replica === null) break;
      tried.add(replica.address);
      try {
        const probabilities = await this.call(replica, modelId, sized, context);
        this.suspectUntil.delete(replica.address);
        return probabilities;
      } catch (error) {
        if (!(error instanceof EngineCallError) || !isRetryable(error)) throw this.failure(modelId, context, error, []);
        if (error.kind !== 'status') this.suspectUntil.set(replica.address, Date.now() + SUSPECT_MS);
        failures.push({ address: replica.address, error });
        this.logger.warn({ reqId: context.requestId, model: modelId, engine: replica.address, attempt: attempt + 1, err: error.message }, 'engine call failed; trying another replica');
      }
    }
    throw this.failure(modelId, context, failures.at(-1)?.error ?? null, failures);
  }

  private async call(replica: RouteReplica, modelId: string, image: RgbImage, context: ClassifyContext): Promise<number[]> {
    this.outstanding.set(replica.address, (this.outstanding.get(replica.address) ?? 0) + 1);
    try {
      const reply = await this.client.classify(replica.address, modelId, image, context.requestId, context.signal);
      return reply.probabilities;
    } finally {
      this.outstanding.set(replica.address, (this.outstanding.get(replica.address) ?? 1) - 1);
    }
  }

  /**
   * Picks an untried replica. Replicas reachable lately come first, then the one with the
   * fewest calls in flight wins, and ties go to a random one.
   */
  private pick(replicas: RouteReplica[], tried: Set<string>): RouteReplica | null {
    const untried = replicas.filter((replica) => !tried.has(replica.address));
    if (untried.length === 0) return null;
    const now = Date.now();
    const trusted = untried.filter((replica) => (this.suspectUntil.get(replica.address) ?? 0) <= now);
    const candidates = trusted.length > 0 ? trusted : untried;
    const fewest = Math.min(...candidates.map((replica) => this.outstanding.get(replica.address) ?? 0));
    const best = candidates.filter((replica) => (this.outstanding.get(replica.address) ?? 0) === fewest);
    return best[Math.floor(this.random() * best.length)] ?? null;
  }

  /** Names the stage, the model and every replica tried, with what each returned. */
  private failure(modelId: string, context: ClassifyContext, error: unknown, failures: { address: string; error: EngineCallError }[]): CascadeError {
    const reason = failures.length > 1 ? failures.map((failure) => `${failure.address}: ${failure.error.message}`).join('; ') : null;
    if (error instanceof EngineCallError && error.kind === 'timeout') return stageTimedOut(context.tier, modelId, reason ?? error.message);
    const engineCode = error instanceof EngineCallError && error.body !== null ? error.body.code : undefined;
    const cause = reason === null ? (error ?? new Error('no replica could be called')) : new Error(`every replica failed (${reason})`, { cause: error });
    return stageFailed(context.tier, modelId, cause, { ...(engineCode === undefined ? {} : { engineCode }), ...(failures.length > 0 ? { engines: failures.map((failure) => failure.address) } : {}) });
  }
}

function isRetryable(error: EngineCallError): boolean {
  return error.kind !== 'status' || (error.statusCode !== null && RETRYABLE_STATUSES.has(error.statusCode));
}
