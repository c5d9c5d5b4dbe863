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

/** Restart policy of a ChildGroup: the delay doubles per recent crash, up to a limit. */
export interface RestartPolicy {
  firstDelayMs: number;
  maxDelayMs: number;
  /** Crashes of one child within `windowMs` after which the group gives up. */
  maxCrashes: number;
  windowMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { firstDelayMs: 1_000, maxDelayMs: 30_000, maxCrashes: 5, windowMs: 60_000 };

interface Supervised {
  name: string;
  start: () => ChildProcess;
  child: ChildProcess;
  crashTimes: number[];
  restartTimer: NodeJS.Timeout | null;
}

/**
 * A set of child processes that are restarted when they exit unexpectedly and stopped
 * together, in start order: the coordinator first, so it drains in-flight predictions
 * while the engines that run them are still up. A child that keeps crashing makes the
 * group give up, because restarting it again would only hide the fault.
 */
export class ChildGroup {
  private readonly children: Supervised[] = [];
  private stopping = false;

  constructor(
    private readonly logger: Logger,
    private readonly onGiveUp: (name: string) => void,
    private readonly policy: RestartPolicy = DEFAULT_RESTART_POLICY,
  ) {}

  add(name: string, start: () => ChildProcess): void {
    const supervised: Supervised = { name, start, child: start(), crashTimes: [], restartTimer: null };
    this.children.push(supervised);
    this.watch(supervised);
  }

  /** Sends SIGTERM to each child in turn and waits for it to exit; SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const supervised of this.children) {
      if (supervised.restartTimer !== null) clearTimeout(supervised.restartTimer);
      await stopChild(supervised.child, graceMs, () => this.logger.warn({ process: supervised.name, graceMs }, 'child did not stop in time; killing it'));
    }
  }

  private watch(supervised: Supervised): void {
    const { child } = supervised;
    this.logger.info({ process: supervised.name, childPid: child.pid }, 'child process started');
    child.once('exit', (code, signal) => {
      if (this.stopping) return;
      this.onCrash(supervised, code, signal);
    });
  }

  private onCrash(supervised: Supervised, code: number | null, signal: NodeJS.Signals | null): void {
    const now = Date.now();
    supervised.crashTimes = [...supervised.crashTimes.filter((time) => now - time < this.policy.windowMs), now];
    const crashes = supervised.crashTimes.length;
    if (crashes >= this.policy.maxCrashes) {
      this.logger.error({ process: supervised.name, code, signal, crashes, windowMs: this.policy.windowMs }, 'child process keeps exiting; stopping the cluster');
      this.onGiveUp(supervised.name);
      return;
    }
    const delayMs = Math.min(this.policy.maxDelayMs, this.policy.firstDelayMs * 2 ** (crashes - 1));
    this.logger.error({ process: supervised.name, code, signal, delayMs }, 'child process exited unexpectedly; restarting it');
    supervised.restartTimer = setTimeout(() => this.restart(supervised), delayMs);
  }

  private restart(supervised: Supervised): void {
    supervised.restartTimer = null;
    if (this.stopping) return;
    supervised.child = supervised.start();
    this.watch(supervised);
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
