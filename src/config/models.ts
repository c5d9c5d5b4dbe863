/**
 * Builds ModelConfig objects from validated `[Basic]` and `[Second.N]` tables: fills
 * defaults, resolves model and labels paths against the file that names them, and
 * checks the rules that span keys of one table.
 */

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { CONFIG_DEFAULTS } from './defaults.js';
import { describeValue, issueAt, type ConfigIssue, type TableOrigin } from './issues.js';
import { SCALE_MODES, type RawModelTable } from './schema.js';
import type { ModelConfig, ModelTier, Preprocessing, Scaling } from './types.js';

/** Shape of a Google Drive file id; a string of this shape that names no local file is taken as one. */
const DRIVE_ID = /^[A-Za-z0-9_-]{20,}$/;
const HTTP_URL = /^https?:\/\//i;
const FILE_URL = /^file:\/\//i;
const DRIVE_PREFIX = 'gdrive:';

export interface ModelIdentity {
  id: string;
  tier: ModelTier;
  category: number | null;
  categoryName: string | null;
}

export interface BuiltModel {
  model: ModelConfig | null;
  issues: ConfigIssue[];
}

/**
 * Builds one model. Relative paths resolve against the directory of the file that
 * contains the table, or against `fallbackDirectory` for a table without a file.
 */
export function buildModel(raw: RawModelTable, identity: ModelIdentity, origin: TableOrigin, fallbackDirectory: string): BuiltModel {
  const directory = origin.source?.directory ?? fallbackDirectory;
  const issues = checkModelRules(raw, origin);
  const source = resolveModelSource(raw.model, directory);
  const labels = resolveLabels(raw, origin, directory, issues);
  if (issues.length > 0) return { model: null, issues };

  const model: ModelConfig = {
    ...identity,
    parents: typeof raw.parent === 'number' ? [raw.parent] : [...raw.parent],
    source,
    sha256: raw.sha256 === undefined ? null : raw.sha256.toLowerCase(),
    format: raw.format ?? CONFIG_DEFAULTS.model.format,
    labels,
    preprocessing: buildPreprocessing(raw),
    output: raw.output ?? CONFIG_DEFAULTS.model.output,
  };
  return { model, issues };
}

/**
 * Returns Drive ids (bare or `gdrive:<id>`) and http(s) URLs unchanged, and local paths
 * (`file://` URLs included) absolute, resolved against `directory`. The schema has
 * already rejected other URL schemes.
 */
export function resolveModelSource(value: string, directory: string): string {
  if (HTTP_URL.test(value) || value.startsWith(DRIVE_PREFIX)) return value;
  if (FILE_URL.test(value)) return fileURLToPath(value);
  const localPath = path.resolve(directory, value);
  if (DRIVE_ID.test(value) && !existsSync(localPath)) return value;
  // NOTE: a local path need not exist on this machine, because the engine on the model's
  // server may be the one that reads it. A wrong path fails when the model is fetched.
  return localPath;
}

function checkModelRules(raw: RawModelTable, origin: TableOrigin): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (raw.labels !== undefined && raw.labels_file !== undefined) {
    issues.push(issueAt(origin, ['labels_file'], 'found both labels and labels_file, expected only one of them; remove one'));
  }
  if (raw.labels !== undefined) {
    const duplicate = findDuplicate(raw.labels);
    if (duplicate !== null) issues.push(issueAt(origin, ['labels'], `found the label ${describeValue(duplicate)} twice, expected unique labels`));
  }
  if (Array.isArray(raw.parent)) {
    const duplicate = findDuplicate(raw.parent);
    if (duplicate !== null) issues.push(issueAt(origin, ['parent'], `found server ${duplicate} twice in ${describeValue(raw.parent)}, expected each server once`));
  }
  issues.push(...checkMeanStd(raw, origin));
  return issues;
}

/** `mean` and `std` go together, and only with `scale = "mean_std"`, which needs both. */
function checkMeanStd(raw: RawModelTable, origin: TableOrigin): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const scale = raw.scale ?? CONFIG_DEFAULTS.model.scale;
  const standardize = scale === 'mean_std';
  const pairs = [
    { key: 'mean', value: raw.mean, other: 'std', otherValue: raw.std },
    { key: 'std', value: raw.std, other: 'mean', otherValue: raw.mean },
  ];
  for (const { key, value, other, otherValue } of pairs) {
    if (value === undefined && (standardize || otherValue !== undefined)) {
      const reason = standardize ? 'scale = "mean_std" needs both mean and std' : `${other} is set, and mean and std go together`;
      issues.push(issueAt(origin, [key], `missing required key, expected 3 numbers in 0..1 units because ${reason}`));
    }
    if (value !== undefined && !standardize) {
      issues.push(issueAt(origin, [key], `found ${describeValue(value)}, but mean and std apply only with scale = "mean_std" (scale is "${scale}"); set scale = "mean_std" or remove ${key}`));
    }
  }
  return issues;
}

function findDuplicate<T>(values: readonly T[]): T | null {
  const seen = new Set<T>();
  for (const value of values) {
    if (seen.has(value)) return value;
    seen.add(value);
  }
  return null;
}

function resolveLabels(raw: RawModelTable, origin: TableOrigin, directory: string, issues: ConfigIssue[]): string[] | null {
  if (raw.labels !== undefined) return [...raw.labels];
  if (raw.labels_file === undefined) return null;

  const result = readLabelsFile(path.resolve(directory, raw.labels_file));
  if (Array.isArray(result)) return result;
  issues.push(issueAt(origin, ['labels_file'], `found ${describeValue(raw.labels_file)}, but ${result.problem}`));
  return null;
}

/**
 * Reads a labels file: one label per line, surrounding spaces trimmed, blank lines at
 * the end ignored. A blank line before the last label would shift every index after
 * it, so it is rejected.
 */
export function readLabelsFile(absolutePath: string): string[] | { problem: string } {
  let text: string;
  try {
    text = readFileSync(absolutePath, 'utf8');
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : '';
    if (code === 'ENOENT') return { problem: `the labels file ${absolutePath} does not exist; create it or fix the path` };
    return { problem: `the labels file ${absolutePath} cannot be read (${error instanceof Error ? error.message : String(error)})` };
  }

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((line) => line.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) return { problem: `the labels file ${absolutePath} is empty; write one label per line` };

  const blank = lines.indexOf('');
  if (blank >= 0) return { problem: `line ${blank + 1} of the labels file ${absolutePath} is blank; remove it, because each line is one output index` };
  const duplicate = findDuplicate(lines);
  if (duplicate !== null) return { problem: `the labels file ${absolutePath} lists ${describeValue(duplicate)} twice; labels must be unique` };
  return lines;
}

function buildPreprocessing(raw: RawModelTable): Preprocessing {
  const size = raw.input_size;
  const [height, width] = size === undefined ? [null, null] : typeof size === 'number' ? [size, size] : size;
  return {
    width,
    height,
    resize: raw.resize ?? CONFIG_DEFAULTS.model.resize,
    scaling: buildScaling(raw),
    channelOrder: raw.channel_order ?? CONFIG_DEFAULTS.model.channelOrder,
    layout: raw.layout ?? CONFIG_DEFAULTS.model.layout,
  };
}

function buildScaling(raw: RawModelTable): Scaling {
  const mode = SCALE_MODES[raw.scale ?? CONFIG_DEFAULTS.model.scale];
  return { mode, mean: raw.mean ?? [0, 0, 0], std: raw.std ?? [1, 1, 1] };
}
