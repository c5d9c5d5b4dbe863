import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from '../shared/logger.js';

/**
 * Starts this same CLI as a child process with other arguments, with the same Node.js
 * flags (so it also works under a TypeScript loader in development).
 */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcess {
  const script = process.argv[1] ?? '';
  // Detached: a Ctrl-C in the terminal reaches only the launcher, which then stops the
  // children in order, instead of every process receiving it at once. The IPC channel
  // closes when the launcher dies, even by SIGKILL, and the child then stops itself
  // (see closeOnSignals).
  return spawn(process.execPath, [...process.execArgv, script, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...env },
    detached: true,
  });
}

/**
 * A set of child processes stopped together, in start order: the coordinator first, so
 * it drains in-flight predictions while the engines that run them are still up.
 */
export class ChildGroup {
  private readonly children: { name: string; child: ChildProcess }[] = [];
  private stopping = false;

  constructor(
    private readonly logger: Logger,
    private readonly onUnexpectedExit: (name: string, code: number | null) => void,
  ) {}

  add(name: string, child: ChildProcess): void {
    this.children.push({ name, child });
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      this.logger.error({ process: name, code, signal }, 'child process exited unexpectedly');
      this.onUnexpectedExit(name, code);
    });
  }

  /** Sends SIGTERM to each child in turn and waits for it to exit; SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const { name, child } of this.children) {
      await stopChild(child, graceMs, () => this.logger.warn({ process: name, graceMs }, 'child did not stop in time; killing it'));
    }
  }
}

function stopChild(child: ChildProcess, graceMs: number, onKill: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onKill();
      child.kill('SIGKILL');
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
