import type { SessionSettings } from '../runtime/session.js';
import type { SourceSettings } from '../sources/types.js';
import type { TlsMaterial } from '../shared/tls.js';

export interface EngineSettings {
  /** Index N of the `[Servers.N]` table this engine serves. */
  serverIndex: number;
  /** Address and port to listen on. */
  host: string;
  port: number;
  /** host:port other processes use to reach this engine; defaults to host:port. */
  advertiseAddress: string | null;
  /** Base URL of the coordinator, for example http://127.0.0.1:8080. */
  coordinatorUrl: string;
  /** Shared cluster secret sent and expected as a bearer token. */
  token: string;
  heartbeatIntervalMs: number;
  /** Timeout of one report call to the coordinator. */
  reportTimeoutMs: number;
  loadTimeoutMs: number;
  sources: SourceSettings;
  session: SessionSettings;
  /** Largest accepted request body in bytes. */
  maxBodyBytes: number;
  /**
   * Also serve `POST /v1/predict`, routing with the table the coordinator pushes, so
   * clients can spread predictions over engines and keep predicting while the
   * coordinator is down.
   */
  servePredict: boolean;
  /** Timeout of calls to other engines when serving predictions. */
  inferenceTimeoutMs: number;
  /** Serve HTTPS and trust the cluster CA on calls; null for plain HTTP. */
  tls: TlsMaterial | null;
}
