/**
 * Builds the servers and the settings tables (`[Coordinator]`, `[Limits]`, `[Timing]`)
 * from validated TOML, filling defaults and checking rules that span their keys.
 */

import path from 'node:path';
import type { z } from 'zod';

import { CONFIG_DEFAULTS, defaultServerName, defaultServerPort } from './defaults.js';
import { issueAt, type ConfigIssue, type TableOrigin } from './issues.js';
import {
  coordinatorTableSchema,
  limitsTableSchema,
  serverTableSchema,
  timingTableSchema,
  type RawCoordinatorTable,
} from './schema.js';
import type { CoordinatorConfig, ImageLimits, ServerConfig, TimingConfig } from './types.js';
import { splitIndexedSection, validateTable, type Located, type Sections } from './validate.js';

export interface LocatedServer {
  server: ServerConfig;
  origin: TableOrigin;
}

export interface BuiltServers {
  servers: LocatedServer[];
  /** N of every `[Servers.N]` table, valid or not; null when `[Servers]` is missing or malformed. */
  indexes: ReadonlySet<number> | null;
  issues: ConfigIssue[];
}

/** Builds `[Servers.N]` tables and checks `number`, names and addresses across them. */
export function buildServers(section: Located<unknown> | undefined, fileList: string): BuiltServers {
  if (section === undefined) {
    return { servers: [], indexes: null, issues: [missingTableIssue('Servers', 'with one [Servers.N] table per server', fileList)] };
  }
  const split = splitIndexedSection(section);
  if (split.data === null) return { servers: [], indexes: null, issues: split.issues };
  // A misspelt [Servers.N] key was probably meant as a server, so the count and the
  // parent checks, which need every server, would report problems that are not there.
  const complete = split.issues.length === 0;

  const servers: LocatedServer[] = [];
  const issues: ConfigIssue[] = [...split.issues];
  for (const entry of split.data.entries) {
    const table = validateTable(serverTableSchema, entry);
    issues.push(...table.issues);
    if (table.data === null) continue;
    const server: ServerConfig = {
      index: entry.index,
      ipv4: table.data.ipv4,
      port: table.data.port ?? defaultServerPort(entry.index),
      name: table.data.name ?? defaultServerName(entry.index),
    };
    servers.push({ server, origin: entry.origin });
  }

  if (complete && split.data.entries.length === 0) {
    issues.push(issueAt(section.origin, [], 'contains no [Servers.N] table, expected at least one, such as [Servers.0] with ipv4 = "10.0.0.5"'));
  }
  const count = split.data.count;
  if (complete && count !== null && count.value !== split.data.entries.length) {
    const indexes = split.data.entries.map((entry) => entry.index).join(', ');
    const tables = split.data.entries.length === 0 ? 'none' : `[Servers.N] for N = ${indexes}`;
    issues.push(issueAt(count.origin, ['number'], `found ${count.value}, expected ${split.data.entries.length}, the count of [Servers.N] tables (${tables}); fix number or the tables`));
  }
  issues.push(...checkUniqueServers(servers));
  const indexes = complete ? new Set(split.data.entries.map((entry) => entry.index)) : null;
  return { servers, indexes, issues };
}

function checkUniqueServers(servers: readonly LocatedServer[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const byName = new Map<string, number>();
  const byAddress = new Map<string, number>();
  for (const { server, origin } of servers) {
    const sameName = byName.get(server.name);
    if (sameName !== undefined) {
      issues.push(issueAt(origin, ['name'], `found ${JSON.stringify(server.name)}, which [Servers.${sameName}] already uses; give each server its own name`));
    }
    const address = `${server.ipv4}:${server.port}`;
    const sameAddress = byAddress.get(address);
    if (sameAddress !== undefined) {
      issues.push(issueAt(origin, ['port'], `found ${address}, which [Servers.${sameAddress}] already uses; two engines cannot listen on one address, so set a different port`));
    }
    byName.set(server.name, server.index);
    byAddress.set(address, server.index);
  }
  return issues;
}

export function missingTableIssue(name: string, detail: string, fileList: string): ConfigIssue {
  return { file: null, line: null, key: name, message: `missing table, expected [${name}] ${detail} in one of the files (${fileList})` };
}

export interface BuiltSettings {
  coordinator: CoordinatorConfig | null;
  limits: ImageLimits | null;
  timing: TimingConfig | null;
  issues: ConfigIssue[];
}

/** Builds the optional settings tables; absent tables and keys take their defaults. */
export function buildSettings(sections: Sections, cwd: string): BuiltSettings {
  const issues: ConfigIssue[] = [];
  const coordinatorRaw = validateOptional(sections.Coordinator, coordinatorTableSchema, issues);
  const limitsRaw = validateOptional(sections.Limits, limitsTableSchema, issues);
  const timingRaw = validateOptional(sections.Timing, timingTableSchema, issues);

  const coordinator = coordinatorRaw === null ? null : buildCoordinator(coordinatorRaw, cwd);
  const defaults = CONFIG_DEFAULTS;
  const limits: ImageLimits | null =
    limitsRaw === null
      ? null
      : {
          maxBodyBytes: limitsRaw.max_body_bytes ?? defaults.limits.maxBodyBytes,
          maxPixels: limitsRaw.max_pixels ?? defaults.limits.maxPixels,
          minWidth: limitsRaw.min_width ?? defaults.limits.minWidth,
          minHeight: limitsRaw.min_height ?? defaults.limits.minHeight,
        };
  const timing: TimingConfig | null =
    timingRaw === null
      ? null
      : {
          heartbeatIntervalMs: timingRaw.heartbeat_interval_ms ?? defaults.timing.heartbeatIntervalMs,
          engineDownAfterMs: timingRaw.engine_down_after_ms ?? defaults.timing.engineDownAfterMs,
          inferenceTimeoutMs: timingRaw.inference_timeout_ms ?? defaults.timing.inferenceTimeoutMs,
          loadTimeoutMs: timingRaw.load_timeout_ms ?? defaults.timing.loadTimeoutMs,
        };

  if (limits !== null) issues.push(...checkLimits(limits, sections.Limits?.origin, limitsRaw?.max_pixels === undefined));
  if (timing !== null) issues.push(...checkTiming(timing, sections.Timing?.origin, timingRaw?.engine_down_after_ms === undefined));
  return { coordinator, limits, timing, issues };
}

function validateOptional<Schema extends z.ZodObject>(section: Located<unknown> | undefined, schema: Schema, issues: ConfigIssue[]): z.infer<Schema> | null {
  if (section === undefined) return schema.parse({});
  const result = validateTable(schema, section);
  issues.push(...result.issues);
  return result.data;
}

/** Builds the coordinator settings; `data_dir` resolves against `cwd`. */
export function buildCoordinator(raw: RawCoordinatorTable, cwd: string): CoordinatorConfig {
  const defaults = CONFIG_DEFAULTS.coordinator;
  return {
    host: raw.host ?? defaults.host,
    port: raw.port ?? defaults.port,
    dataDir: path.resolve(cwd, raw.data_dir ?? defaults.dataDir),
  };
}

function checkLimits(limits: ImageLimits, origin: TableOrigin | undefined, isDefault: boolean): ConfigIssue[] {
  const smallest = limits.minWidth * limits.minHeight;
  if (smallest <= limits.maxPixels) return [];
  const where = origin ?? { source: null, path: ['Limits'] };
  return [issueAt(where, ['max_pixels'], `found ${limits.maxPixels}${isDefault ? ' (the default)' : ''}, expected at least min_width x min_height = ${smallest}, or no image could pass both limits`)];
}

function checkTiming(timing: TimingConfig, origin: TableOrigin | undefined, isDefault: boolean): ConfigIssue[] {
  if (timing.engineDownAfterMs > timing.heartbeatIntervalMs) return [];
  const where = origin ?? { source: null, path: ['Timing'] };
  return [
    issueAt(
      where,
      ['engine_down_after_ms'],
      `found ${timing.engineDownAfterMs}${isDefault ? ' (the default)' : ''}, expected more than heartbeat_interval_ms (${timing.heartbeatIntervalMs}), or engines would be marked down between two heartbeats`,
    ),
  ];
}
