/**
 * CPU time and memory of another process, read from Linux's /proc. The figures are
 * those of the kernel, so they include everything the process does (Node, V8's
 * compiler and GC threads, SQLite), not only JavaScript.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcessUsage {
  /** User plus system CPU time since the process started, in seconds. */
  cpuSeconds: number;
  /** Resident set size now (VmRSS), in bytes. */
  rssBytes: number;
  /** Largest resident set size so far (VmHWM), in bytes. */
  peakRssBytes: number;
}

/** Reads the usage of one process; `getconf CLK_TCK` is asked once, at construction. */
export class ProcessMeter {
  /** Clock ticks per second of /proc/<pid>/stat times (100 on most Linux systems). */
  private readonly ticksPerSecond: number;

  constructor(readonly pid: number) {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    this.ticksPerSecond = Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  }

  read(): ProcessUsage {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and brackets, so fields are counted
    // after its closing bracket: utime and stime are fields 14 and 15 of the whole line.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return { cpuSeconds: ticks / this.ticksPerSecond, rssBytes: statusKilobytes(status, 'VmRSS') * 1024, peakRssBytes: statusKilobytes(status, 'VmHWM') * 1024 };
  }
}

function statusKilobytes(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (match === null) throw new Error(`/proc status has no ${field} line; this benchmark needs Linux.`);
  return Number(match[1]);
}
