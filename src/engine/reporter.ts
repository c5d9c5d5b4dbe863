import { request } from 'undici';
import { describeError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { REPORT_PATH, type EngineReport, type ReportReply } from '../shared/protocol.js';

export interface ReporterOptions {
  coordinatorUrl: string;
  token: string;
  intervalMs: number;
  timeoutMs: number;
  logger: Logger;
  buildReport: () => EngineReport;
  onReply: (reply: ReportReply) => void;
}

/**
 * Sends the engine's report to the coordinator every interval and hands each reply to
 * the engine. A failed report is logged once per outage, not once per attempt, and the
 * loop keeps going: the engine keeps serving with what it has until the coordinator is back.
 */
export class Reporter {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private consecutiveFailures = 0;
  private lastContactAt = 0;
  private inflight: Promise<void> | null = null;

  constructor(private readonly options: ReporterOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.options.logger.info({ coordinator: this.options.coordinatorUrl }, 'reporting to the coordinator');
    this.schedule(0);
  }

  /** Sends one report now, outside the schedule, for example right after a model became ready. */
  reportNow(): void {
    if (!this.running) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.schedule(0);
  }

  /** Milliseconds since the epoch of the last successful report; 0 before the first. */
  get lastContact(): number {
    return this.lastContactAt;
  }

  async close(): Promise<void> {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.inflight;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.inflight = this.tick().finally(() => {
        this.inflight = null;
      });
    }, delayMs);
  }

  private async tick(): Promise<void> {
    try {
      const reply = await this.send(this.options.buildReport());
      this.onSuccess();
      this.options.onReply(reply);
    } catch (error) {
      this.onFailure(error);
    }
    if (this.running) this.schedule(this.options.intervalMs);
  }

  private async send(report: EngineReport): Promise<ReportReply> {
    const response = await request(new URL(REPORT_PATH, this.options.coordinatorUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
      body: JSON.stringify(report),
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    const text = await response.body.text();
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
    this.lastContactAt = Date.now();
  }

  private onFailure(error: unknown): void {
    this.consecutiveFailures += 1;
    // Log the first failure of an outage, then every 30th, so a long outage does not flood the log.
    if (this.consecutiveFailures === 1 || this.consecutiveFailures % 30 === 0) {
      this.options.logger.warn({ err: describeError(error), failedReports: this.consecutiveFailures }, 'report to the coordinator failed');
    }
  }
}
