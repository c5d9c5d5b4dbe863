/**
 * `npm run bench:fleet`: one coordinator process under a simulated fleet of engines that
 * report every second, at several fleet sizes. Prints a line per step, a table with a
 * row per fleet size and, as the last line, one JSON object with every figure.
 *
 * Environment variables:
 * - BENCH_FLEET_SIZES: comma-separated engine counts (default "100,250,500,1000");
 *   each engine has ten models, so placements are ten times the engine count.
 * - BENCH_FLEET_SECONDS: steady-state window per size, in seconds (default 20).
 * - BENCH_FLEET_COLD_START_SECONDS: how long a cold start (every engine at once) may
 *   take to converge before the size starts over with 30 s timeouts (default 60).
 * - BENCH_FLEET_ROUTING_SHARE: share of the engines, from 0 to 1, that serve
 *   /v1/predict and so receive the routing table (default 1, every engine).
 * - BENCH_FLEET_CPU_PROFILE_DIR: when set, the coordinator runs with `node --cpu-prof`
 *   and writes one .cpuprofile per coordinator process into this folder.
 * - BENCH_FLEET_COORDINATOR_JS: compiled CLI entry to run the coordinator from, such as
 *   dist/cli/main.js after `npm run build`. By default the coordinator runs from the
 *   sources through tsx, whose transformed modules count in the coordinator's RSS.
 */
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO_ROOT } from '../test/support/processes.js';
import { RELAXED_TIMING, runFleetSize, type FleetRunResult } from './fleet-run.js';

const TABLE_HEADER = ['engines', 'placements', 'cold start', `cold start, ${RELAXED_TIMING.reportTimeoutMs / 1000} s timeouts`, 'reports/s (target)', 'coord CPU %', 'CPU µs/report', 'RSS MiB (idle)', 'peak RSS MiB', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'sim CPU %', 'sim lag p99 ms', 'down after ms', 'reply B', 'reply+table kB'];

const DEMO_MODEL = join(REPO_ROOT, 'examples', 'models', 'demo', 'bcc-subtypes-demo.onnx');

function parseSizes(value: string | undefined): number[] {
  const parts = (value ?? '100,250,500,1000').split(',').map((part) => part.trim());
  const invalid = parts.filter((part) => !/^\d+$/.test(part) || Number(part) < 1 || Number(part) > 10_000);
  if (invalid.length > 0) throw new Error(`BENCH_FLEET_SIZES contains '${invalid.join("', '")}'; expected comma-separated engine counts from 1 to 10000, such as "100,250,500,1000".`);
  return parts.map(Number);
}

function parseShare(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  const share = Number(value);
  if (!Number.isFinite(share) || share <= 0 || share > 1) throw new Error(`BENCH_FLEET_ROUTING_SHARE is '${value}'; expected a share above 0 and at most 1, such as 0.1.`);
  return share;
}

function parseSeconds(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 1) throw new Error(`${name} is '${value}'; expected a number of seconds of at least 1, such as ${fallback}.`);
  return seconds;
}

const sizes = parseSizes(process.env.BENCH_FLEET_SIZES);
const windowSeconds = parseSeconds('BENCH_FLEET_SECONDS', 20);
const coldStartTimeoutMs = parseSeconds('BENCH_FLEET_COLD_START_SECONDS', 60) * 1000;
const routingShare = parseShare(process.env.BENCH_FLEET_ROUTING_SHARE);
const profileDir = process.env.BENCH_FLEET_CPU_PROFILE_DIR;
const cpuProfileDir = profileDir === undefined || profileDir === '' ? null : resolve(profileDir);
const entry = process.env.BENCH_FLEET_COORDINATOR_JS;
const compiledEntry = entry === undefined || entry === '' ? null : resolve(entry);
if (compiledEntry !== null && !existsSync(compiledEntry)) throw new Error(`BENCH_FLEET_COORDINATOR_JS names ${compiledEntry}, which does not exist; run 'npm run build' first or unset it to run the sources.`);
const log = (line: string): void => void process.stdout.write(`${line}\n`);

const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown CPU', node: process.version, loadAverage1m: round(loadavg()[0] ?? Number.NaN), coordinator: compiledEntry ?? 'src/cli/main.ts through tsx' };
log(`machine: ${machine.cpus} x ${machine.cpuModel}, Node.js ${machine.node}, load average ${machine.loadAverage1m} at start; coordinator from ${machine.coordinator}`);

const results: FleetRunResult[] = [];
for (const engines of sizes) {
  log(`${engines} engines (${Math.round(engines * routingShare)} serving predictions), ${engines * 10} placements, ${windowSeconds} s window (load average ${round(loadavg()[0] ?? Number.NaN)}):`);
  results.push(await runFleetSize({ engines, windowSeconds, coldStartTimeoutMs, modelFile: DEMO_MODEL, cpuProfileDir, compiledEntry, routingShare, log }));
}

log('');
for (const line of formatTable(results)) log(line);
for (const result of results) {
  const samples = result.steady?.errorSamples ?? [];
  if (samples.length > 0) log(`errors at ${result.engines} engines: ${samples.join(' | ')}`);
}
log(JSON.stringify({ machine, windowSeconds, routingShare, sizes: results.map(roundDeep) }));

function formatTable(rows: FleetRunResult[]): string[] {
  const lines = [TABLE_HEADER, ...rows.map(formatRow)].map((cells) => `| ${cells.join(' | ')} |`);
  return [lines[0] ?? '', `|${TABLE_HEADER.map(() => ' --- |').join('')}`, ...lines.slice(1)];
}

function formatRow(row: FleetRunResult): string[] {
  const coldStart = row.coldStart.converged ? `${row.coldStart.seconds.toFixed(1)} s` : `none in ${row.coldStart.seconds.toFixed(0)} s`;
  const { steady, down } = row;
  if (steady === null || down === null) {
    const relaxed = row.relaxedStart === null ? 'not tried' : `none in ${row.relaxedStart.seconds.toFixed(0)} s`;
    return [String(row.engines), String(row.placements), coldStart, relaxed, ...TABLE_HEADER.slice(4).map(() => '-')];
  }
  return [
    String(row.engines),
    String(row.placements),
    coldStart,
    row.relaxedStart === null ? '-' : `${row.relaxedStart.seconds.toFixed(1)} s`,
    `${steady.achievedReportsPerSecond.toFixed(1)} (${steady.targetReportsPerSecond})`,
    steady.coordinatorCpuPercent.toFixed(1),
    steady.coordinatorCpuMicrosPerReport.toFixed(0),
    `${steady.rssMiB.toFixed(0)} (${row.idleRssMiB.toFixed(0)})`,
    steady.peakRssMiB.toFixed(0),
    steady.p50Ms.toFixed(2),
    steady.p99Ms.toFixed(2),
    steady.maxMs.toFixed(1),
    String(steady.errors),
    steady.simulatorCpuPercent.toFixed(1),
    steady.simulatorTimerLagP99Ms.toFixed(1),
    down.detectionMs.map((ms) => ms.toFixed(0)).join('/'),
    String(steady.replyBytesPlain),
    (steady.replyBytesWithRouting / 1024).toFixed(0),
  ];
}

/** Rounds every number in a JSON-like value to two decimals, for a readable summary line. */
function roundDeep(value: unknown): unknown {
  if (typeof value === 'number') return round(value);
  if (Array.isArray(value)) return value.map(roundDeep);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, roundDeep(item)]));
  return value;
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
