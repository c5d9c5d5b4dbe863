/**
 * Loads the cluster configuration: finds the TOML files, parses them with smol-toml,
 * validates each table with zod, cross-checks the tables, applies command-line
 * overrides and returns one deep-frozen ClusterConfig. Every problem found is collected
 * and thrown as a single CONFIG_INVALID error; a missing file throws CONFIG_NOT_FOUND.
 */

import path from 'node:path';

import { buildModel } from './models.js';
import { checkParents, checkUniqueCategories, resolveCategory, type CategoryChoice, type LocatedModel, type ParentReference } from './check.js';
import { configInvalidError, type ConfigIssue } from './issues.js';
import { locateConfigFiles, parseConfigText, readConfigFile, type ConfigFileRef, type ParsedConfigFile, type ReadResult } from './locate.js';
import { basicTableSchema, coordinatorTableSchema, secondTableSchema } from './schema.js';
import { buildServers, buildSettings, missingTableIssue } from './sections.js';
import type { ClusterConfig, CoordinatorConfig } from './types.js';
import { collectSections, isTable, splitIndexedSection, validateTable, type Located, type Sections } from './validate.js';

/** Coordinator settings given as command-line flags; they win over the files. */
export interface ConfigOverrides {
  host?: string;
  port?: number;
  /** Resolved against the working directory, like `data_dir`. */
  dataDir?: string;
}

export interface LoadOptions {
  overrides?: ConfigOverrides;
  /** Directory that `data_dir` and relative config paths resolve against; defaults to `process.cwd()`. */
  cwd?: string;
}

/**
 * Loads and validates the configuration from TOML files or directories (every `*.toml`
 * directly inside). Tables may be spread over the files, but each top-level table must
 * sit in one file. Returns a deep-frozen object.
 */
export function loadClusterConfig(paths: readonly string[], options: LoadOptions = {}): ClusterConfig {
  const cwd = options.cwd ?? process.cwd();
  const refs = locateConfigFiles(paths, cwd);
  const fileOrder = refs.map((ref) => ref.displayPath);

  const files = parseFiles(refs, fileOrder);
  const config = buildConfig(files, cwd, fileOrder);
  const overridden = applyOverrides(config, options.overrides ?? {}, cwd, fileOrder);
  return deepFreeze(overridden);
}

/** A configuration file received as text, for example over the coordinator's API. */
export interface ConfigText {
  /** Name shown in messages, such as models.toml. */
  name: string;
  text: string;
}

/**
 * Loads and validates a configuration given as texts instead of files. Relative paths
 * in it resolve against `cwd`, so senders should write local paths absolute, as
 * `renderModelsToml` does.
 */
export function loadClusterConfigFromTexts(texts: readonly ConfigText[], options: LoadOptions = {}): ClusterConfig {
  const cwd = options.cwd ?? process.cwd();
  const fileOrder = texts.map((entry) => entry.name);
  const results = texts.map((entry) => parseConfigText({ displayPath: entry.name, absolutePath: path.join(cwd, entry.name) }, entry.text));
  const files = collectParsed(results, fileOrder);
  const config = buildConfig(files, cwd, fileOrder);
  return deepFreeze(applyOverrides(config, options.overrides ?? {}, cwd, fileOrder));
}

/** Parses every file; syntax errors of all files are thrown together. */
function parseFiles(refs: readonly ConfigFileRef[], fileOrder: readonly string[]): ParsedConfigFile[] {
  return collectParsed(refs.map((ref) => readConfigFile(ref)), fileOrder);
}

function collectParsed(results: readonly ReadResult[], fileOrder: readonly string[]): ParsedConfigFile[] {
  const files: ParsedConfigFile[] = [];
  const issues: ConfigIssue[] = [];
  for (const result of results) {
    if (result.file !== null) files.push(result.file);
    else issues.push(result.issue);
  }
  if (issues.length > 0) throw configInvalidError(issues, fileOrder);
  return files;
}

function buildConfig(files: readonly ParsedConfigFile[], cwd: string, fileOrder: readonly string[]): ClusterConfig {
  const fileList = fileOrder.join(', ');
  const collected = collectSections(files);
  const sections = collected.sections;
  const issues = [...collected.issues];

  const servers = buildServers(sections.Servers, fileList);
  const settings = buildSettings(sections, cwd);
  const models = buildModels(sections, cwd, fileList);
  issues.push(...servers.issues, ...settings.issues, ...models.issues);

  // Parent checks need the list of [Servers.N] tables; without one they would only add noise.
  const serverIndexes = servers.indexes;
  if (serverIndexes !== null) {
    issues.push(...models.parents.flatMap((reference) => checkParents(reference, serverIndexes)));
  }

  const { coordinator, limits, timing } = settings;
  if (issues.length > 0 || models.basic === null || coordinator === null || limits === null || timing === null) {
    throw configInvalidError(issues, fileOrder);
  }
  return {
    servers: servers.servers.map((entry) => entry.server),
    basic: models.basic.model,
    second: models.second.map((entry) => entry.model),
    coordinator,
    limits,
    timing,
    sourceFiles: files.map((file) => file.absolutePath),
  };
}

interface BuiltModels {
  basic: LocatedModel | null;
  second: LocatedModel[];
  /** `parent` values of every model table, valid or not, for the check against [Servers]. */
  parents: ParentReference[];
  issues: ConfigIssue[];
}

function buildModels(sections: Sections, cwd: string, fileList: string): BuiltModels {
  const built: BuiltModels = { basic: null, second: [], parents: [], issues: [] };
  buildBasicModel(sections.Basic, built, cwd, fileList);
  if (sections.Second !== undefined) buildSecondModels(sections.Second, built, cwd);
  return built;
}

function buildBasicModel(section: Sections['Basic'], built: BuiltModels, cwd: string, fileList: string): void {
  if (section === undefined) {
    built.issues.push(missingTableIssue('Basic', "with the basic model's parent and model keys", fileList));
    return;
  }
  built.parents.push(parentReference(section));
  const table = validateTable(basicTableSchema, section);
  built.issues.push(...table.issues);
  if (table.data === null) return;

  const identity = { id: 'basic', tier: 'basic' as const, category: null, categoryName: null };
  const result = buildModel(table.data, identity, section.origin, cwd);
  built.issues.push(...result.issues);
  if (result.model !== null) built.basic = { model: result.model, origin: section.origin, hasCategoryKey: false };
}

function buildSecondModels(section: NonNullable<Sections['Second']>, built: BuiltModels, cwd: string): void {
  const split = splitIndexedSection(section);
  built.issues.push(...split.issues);
  if (split.data === null) return;

  // Without a valid basic model its labels are unknown, so category checks would mislead.
  const basicKnown = built.basic !== null;
  const basicLabels = built.basic?.model.labels ?? null;
  for (const entry of split.data.entries) {
    built.parents.push(parentReference(entry));
    const table = validateTable(secondTableSchema, entry);
    built.issues.push(...table.issues);
    if (table.data === null) continue;

    // The model is built even when its category does not resolve, so that its other issues
    // are reported too. Its null category keeps it out of the duplicate check.
    const written = table.data.category;
    let choice: CategoryChoice | { category: null; categoryName: null } = { category: null, categoryName: null };
    if (basicKnown) {
      const resolved = resolveCategory(written, entry.index, basicLabels, entry.origin);
      if ('message' in resolved) built.issues.push(resolved);
      else choice = resolved;
    }

    const identity = { id: `second-${entry.index}`, tier: 'second' as const, ...choice };
    const result = buildModel(table.data, identity, entry.origin, cwd);
    built.issues.push(...result.issues);
    if (result.model !== null) built.second.push({ model: result.model, origin: entry.origin, hasCategoryKey: written !== undefined });
  }
  if (basicKnown) built.issues.push(...checkUniqueCategories(built.second));
}

function parentReference(located: Located<unknown>): ParentReference {
  const value = isTable(located.value) ? located.value.parent : undefined;
  return { value, origin: located.origin };
}

/** Applies coordinator overrides after validating them with the `[Coordinator]` schema. */
function applyOverrides(config: ClusterConfig, overrides: ConfigOverrides, cwd: string, fileOrder: readonly string[]): ClusterConfig {
  const raw: Record<string, unknown> = {};
  if (overrides.host !== undefined) raw.host = overrides.host;
  if (overrides.port !== undefined) raw.port = overrides.port;
  if (overrides.dataDir !== undefined) raw.data_dir = overrides.dataDir;
  if (Object.keys(raw).length === 0) return config;

  const origin = { source: null, path: ['Coordinator'] };
  const result = validateTable(coordinatorTableSchema, { value: raw, origin });
  if (result.data === null) {
    const issues = result.issues.map((issue) => ({ ...issue, message: `${issue.message} (set by a command-line option)` }));
    throw configInvalidError(issues, fileOrder);
  }

  const coordinator: CoordinatorConfig = {
    host: result.data.host ?? config.coordinator.host,
    port: result.data.port ?? config.coordinator.port,
    dataDir: result.data.data_dir === undefined ? config.coordinator.dataDir : path.resolve(cwd, result.data.data_dir),
  };
  return { ...config, coordinator };
}

function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const child of Object.values(value)) deepFreeze(child);
  return value;
}
