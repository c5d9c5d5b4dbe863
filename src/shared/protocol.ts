/**
 * Messages between engines and the coordinator. Engines push reports, and the reply to
 * each report carries the engine's assignments and the current routing table. So one
 * round trip both refreshes liveness and converges the engine on the desired state.
 */
import type { ImageLimits, ModelConfig } from '../config/types.js';
import type { ModelDescriptor } from '../runtime/loaded-model.js';
import type { RoutingWire } from './routing-wire.js';
import type { ModelState } from './states.js';

export const REPORT_PATH = '/internal/v1/engines/report';
export const CLASSIFY_PATH = '/internal/v1/models/:modelId/classify';
export const PIXELS_CONTENT_TYPE = 'application/x-cascade-rgb8';
export const WIDTH_HEADER = 'x-cascade-width';
export const HEIGHT_HEADER = 'x-cascade-height';

export function classifyPath(modelId: string): string {
  return CLASSIFY_PATH.replace(':modelId', encodeURIComponent(modelId));
}

export interface ReplicaReport {
  modelId: string;
  state: ModelState;
  reason: string;
  /** Hash of the configuration the engine is loading or serving for this model. */
  configHash: string;
  descriptor: ModelDescriptor | null;
}

export interface EngineReport {
  /** Random id chosen at engine start; a new id means the engine restarted. */
  engineId: string;
  serverIndex: number;
  /** host:port where the engine accepts calls, as the engine itself reports it. */
  address: string;
  startedAt: number;
  replicas: ReplicaReport[];
  /** Revision of the routing table the engine has; 0 before the first table. */
  routingRevision: number;
  /** Fingerprint of the assignments the engine has; '' before the first assignments. */
  assignmentsHash: string;
  /**
   * Whether the engine needs the routing table: only an engine that serves
   * /v1/predict does. Absent means true, the behaviour of engines that do not send it.
   */
  wantsRouting?: boolean;
}

export interface Assignment {
  model: ModelConfig;
  configHash: string;
}

/** One replica in the routing table. */
export interface RouteReplica {
  serverIndex: number;
  address: string;
}

export interface RouteEntry {
  modelId: string;
  descriptor: ModelDescriptor;
  /** Ready replicas on engines that are up. */
  replicas: RouteReplica[];
}

export interface RoutingTable {
  /** Increases with every change, so receivers can ignore stale tables. */
  revision: number;
  basicModelId: string;
  /** Category index of the basic model to the second model's id. */
  categories: Record<string, string>;
  routes: Record<string, RouteEntry>;
}

/**
 * Reply to a report. `assignments` and `routing` are sent only when they differ from the
 * versions named in the report. At a thousand engines reporting every second, resending
 * the full routing table in every reply would dominate the coordinator's CPU.
 */
export interface ReportReply {
  /** Present when the engine's assignments changed; the complete list. */
  assignments?: Assignment[];
  assignmentsHash: string;
  /** Present when the table is newer than the engine's `routingRevision`. */
  routing?: RoutingWire;
  limits: ImageLimits;
  heartbeatIntervalMs: number;
  loadTimeoutMs: number;
  inferenceTimeoutMs: number;
}

export interface ClassifyReply {
  modelId: string;
  version: string;
  probabilities: number[];
}
