/** A pino logger that keeps its lines in memory, so tests can assert on what was logged. */
import { pino } from 'pino';
import type { Logger } from '../../src/shared/logger.js';

export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export interface LogCapture {
  logger: Logger;
  lines: LogLine[];
  /** Resolves with the first line, already logged or still to come, for which `predicate` holds. */
  waitFor(predicate: (line: LogLine) => boolean): Promise<LogLine>;
}

export function captureLogs(level = 'debug'): LogCapture {
  const lines: LogLine[] = [];
  const waiters: Array<{ predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];

  const destination = {
    write(text: string): void {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed !== 'object' || parsed === null) return;
      const line: LogLine = { ...parsed };
      lines.push(line);
      for (const waiter of waiters.filter((candidate) => candidate.predicate(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    },
  };

  return {
    logger: pino({ level }, destination),
    lines,
    waitFor(predicate) {
      const existing = lines.find(predicate);
      if (existing !== undefined) return Promise.resolve(existing);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}
