import cliProgress from 'cli-progress';
import type { Logger } from '../shared/logger.js';

/** Gap between two debug progress lines when no bar is drawn. */
export const PROGRESS_LOG_INTERVAL_MS = 5_000;

const MIB = 1024 * 1024;

export interface ProgressOptions {
  /** The `progress` setting. A bar is drawn only when it is true and `stream` is a terminal. */
  enabled: boolean;
  /** Output stream of the bar, which is drawn only when `isTTY` is true. */
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  logger: Logger;
  /** Short name of the download, shown at the left of the bar. */
  label: string;
  /** Expected size from Content-Length, or null when the server did not send one. */
  totalBytes: number | null;
  /** Clock in milliseconds, replaced by tests. */
  now?: () => number;
}

export interface ProgressReporter {
  /** Reports the bytes received so far (a running total, not an increment). */
  update(receivedBytes: number): void;
  /** Removes the bar. Call it once, whether the download succeeded or failed. */
  finish(): void;
}

/**
 * Creates a download progress reporter: a cli-progress bar on a terminal, or at most one
 * debug log line per PROGRESS_LOG_INTERVAL_MS anywhere else, so service logs stay short.
 */
export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  if (options.enabled && options.stream.isTTY === true) return createBarReporter(options);
  return createLogReporter(options);
}

function createBarReporter(options: ProgressOptions): ProgressReporter {
  const hasTotal = options.totalBytes !== null;
  const format = hasTotal
    ? '{label} [{bar}] {percentage}% | {receivedMiB}/{totalMiB} MiB | ETA {eta_formatted}'
    : '{label} {receivedMiB} MiB';
  const bar = new cliProgress.SingleBar(
    { stream: options.stream, format, hideCursor: true, clearOnComplete: true, etaBuffer: 50 },
    cliProgress.Presets.shades_classic,
  );

  bar.start(options.totalBytes ?? 0, 0, { label: options.label, receivedMiB: '0.0', totalMiB: formatMiB(options.totalBytes ?? 0) });
  return {
    update(receivedBytes: number): void {
      bar.update(receivedBytes, { receivedMiB: formatMiB(receivedBytes) });
    },
    finish(): void {
      bar.stop();
    },
  };
}

function createLogReporter(options: ProgressOptions): ProgressReporter {
  const now = options.now ?? Date.now;
  let lastLogMs = now();

  return {
    update(receivedBytes: number): void {
      const currentMs = now();
      if (currentMs - lastLogMs < PROGRESS_LOG_INTERVAL_MS) return;

      lastLogMs = currentMs;
      options.logger.debug({ receivedBytes, totalBytes: options.totalBytes }, 'model download progress');
    },
    finish(): void {},
  };
}

function formatMiB(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}
