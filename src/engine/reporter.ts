import { request, type Agent } from 'undici';
import { describeError, parseErrorBody } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { createAgent, type TlsMaterial } from '../shared/tls.js';
import { REPORT_PATH, type EngineReport, type ReportReply } from '../shared/protocol.js';

export interface ReporterOptions {
  coordinatorUrl: string;
  token: string;
  intervalMs: number;
  timeoutMs: number;
  /** Trusts the cluster CA when the coordinator URL is https. */
  tls: TlsMaterial | null;
  logger: Logger;
  buildReport: () => EngineReport;
  onReply: (reply: ReportReply) => void;
  /** Called once when the coordinator reports that a newer engine took over this server; reporting has stopped. */
  onReplaced: (message: string) => void;
}

/** Error for the coordinator's 409 reply when a newer engine reports for the same server. */
class ReplacedError extends Error {}

/**
 * Sends the engine's report to the coordinator every interval and hands each reply to
 * the engine. A failed report is logged once per outage, not once per attempt, and the
 * loop keeps going: the engine keeps serving with what it has until the coordinator is back.
 */
export class Reporter {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private consecutiveFailures = 0;
  private inflight: Promise<void> | null = null;
  private reportAgain = false;
  private intervalMs: number;
  private readonly agent: Agent;

  constructor(private readonly options: ReporterOptions) {
    this.intervalMs = options.intervalMs;
    this.agent = createAgent(options.tls, { connections: 2, connectTimeoutMs: options.timeoutMs });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.logger.info({ coordinator: this.options.coordinatorUrl }, 'reporting to the coordinator');
    this.schedule(0);
  }

  /** Sends one report now, outside the schedule, for example right after a model became ready. */
  reportNow(): void {
    if (!this.running) return;
    if (this.inflight !== null) {
      // One loop only: the running tick schedules the next report immediately.
      this.reportAgain = true;
      return;
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.schedule(0);
  }

  /** Adopts the coordinator's report interval from the next report on. */
  setInterval(intervalMs: number): void {
    if (Number.isInteger(intervalMs) && intervalMs > 0) this.intervalMs = intervalMs;
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.inflight;
    await this.agent.close();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      this.inflight = this.tick().finally(() => {
        this.inflight = null;
        if (!this.running) return;
        const delay = this.reportAgain ? 0 : this.intervalMs;
        this.reportAgain = false;
        this.schedule(delay);
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    try {
      const reply = await this.send(this.options.buildReport());
      this.onSuccess();
      this.options.onReply(reply);
    } catch (error) {
      if (error instanceof ReplacedError) {
        this.running = false;
        this.options.onReplaced(error.message);
        return;
      }
      this.onFailure(error);
    }
  }

  private async send(report: EngineReport): Promise<ReportReply> {
    const response = await request(new URL(REPORT_PATH, this.options.coordinatorUrl), {
      method: 'POST',
      dispatcher: this.agent,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    const text = await response.body.text();
    const error = response.statusCode === 409 ? parseErrorBody(text) : null;
    if (error?.code === 'ENGINE_REPLACED') throw new ReplacedError(error.message);
    if (response.statusCode !== 200) {
      throw new Error(`coordinator answered ${response.statusCode}: ${text.slice(0, 300)}`);
    }
    return JSON.parse(text) as ReportReply;
  }

  private onSuccess(): void {
    if (this.consecutiveFailures > 0) {
      this.options.logger.info({ failedReports: this.consecutiveFailures }, 'coordinator reachable again');
    }
    this.consecutiveFailures = 0;
  }

  private onFailure(error: unknown): void {
    this.consecutiveFailures += 1;
    // Log the first failure of an outage, then every 30th, so a long outage does not flood the log.
    if (this.consecutiveFailures === 1 || this.consecutiveFailures % 30 === 0) {
      this.options.logger.warn({ err: describeError(error), failedReports: this.consecutiveFailures }, 'report to the coordinator failed');
    }
  }
}
