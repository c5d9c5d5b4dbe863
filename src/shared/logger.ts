import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger } from 'pino';

export interface LoggerSettings {
  level: string;
  /** Name of the process role, written as the `role` field of every line. */
  role: string;
  /** Human-readable lines for a terminal instead of JSON. */
  pretty?: boolean;
}

/**
 * Creates the process logger. Only entry points (CLI commands) call this; every other
 * module receives a logger or a child of one, with ids as fields.
 */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    base: { role: settings.role, pid: process.pid },
    redact: { paths: ['token', 'secret', '*.token', '*.secret', 'headers.authorization'], censor: '[redacted]' },
  };
  if (settings.pretty === true) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } });
  }
  return pino(options, pino.destination({ dest: 2, sync: false }));
}

/** A logger that drops everything, for tests and in-process benchmarks. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
