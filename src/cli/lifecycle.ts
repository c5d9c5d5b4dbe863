import type { Logger } from '../shared/logger.js';

/**
 * Runs `close` on the first SIGINT or SIGTERM and exits when it finishes; a second
 * signal exits at once, for a user who does not want to wait for the drain. A process
 * started by `cascade up` also closes when its launcher's IPC channel disconnects,
 * because the launcher has then exited without stopping it.
 */
export function closeOnSignals(close: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals | 'launcher exited'): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting without waiting for the drain');
      process.exit(130);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    close()
      .then(() => flushAndExit(logger, 0))
      .catch((error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        flushAndExit(logger, 1);
      });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (process.connected) {
    process.once('disconnect', () => onSignal('launcher exited'));
    // The channel is only a lifeline to the launcher; it must not keep the process alive.
    process.channel?.unref();
  }
}

export function flushAndExit(logger: Logger, code: number): void {
  logger.flush(() => process.exit(code));
}
