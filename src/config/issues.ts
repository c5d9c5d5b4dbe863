/**
 * Configuration problems. The loader collects every problem it finds, across all files,
 * and throws them together as one CONFIG_INVALID error, one problem per line, so a user
 * fixes everything in one pass.
 */

import { CascadeError } from '../shared/errors.js';
import type { KeyLines, KeyPath } from './lines.js';

export interface ConfigIssue {
  /** File as the user named it, or null for a problem in command-line overrides or across files. */
  file: string | null;
  /** 1-based line in `file`, or null when no line applies. */
  line: number | null;
  /** Dotted key path such as `Second.9.parent`, or null for a TOML syntax error. */
  key: string | null;
  /** Description of the problem: the value found, the expected form, and the fix. */
  message: string;
}

/** A configuration file as messages and path resolution need it. */
export interface SourceText {
  /** Path as the user gave it (directory entries are joined to the directory as given). */
  displayPath: string;
  /** Directory that relative paths inside the file resolve against. */
  directory: string;
  lines: KeyLines;
}

/** Location of a table: its file and its key path inside that file. */
export interface TableOrigin {
  /** Null for values that come from command-line overrides. */
  source: SourceText | null;
  path: readonly string[];
}

/** Builds an issue for `key` inside the table at `origin`, with the key's line. */
export function issueAt(origin: TableOrigin, key: KeyPath, message: string): ConfigIssue {
  const fullPath = [...origin.path, ...key];
  const source = origin.source;
  return {
    file: source === null ? null : source.displayPath,
    line: source === null ? null : source.lines.lineOf(fullPath),
    key: fullPath.length === 0 ? null : formatKeyPath(fullPath),
    message,
  };
}

export function formatKeyPath(path: KeyPath): string {
  return path.map(String).join('.');
}

/** Formats one issue as `file:line: key: message`, leaving out the parts it lacks. */
export function formatIssue(issue: ConfigIssue): string {
  let place = '';
  if (issue.file !== null) place = issue.line === null ? `${issue.file}: ` : `${issue.file}:${issue.line}: `;
  const key = issue.key === null ? '' : `${issue.key}: `;
  return `${place}${key}${issue.message}`;
}

/** Builds the CONFIG_INVALID error for all issues, sorted by file order and line. */
export function configInvalidError(issues: readonly ConfigIssue[], fileOrder: readonly string[]): CascadeError {
  const sorted = sortIssues(issues, fileOrder);
  const count = sorted.length === 1 ? '1 problem' : `${sorted.length} problems`;
  const lines = sorted.map((issue) => `  ${formatIssue(issue)}`);
  const message = `Invalid configuration (${count}); fix each line below and load it again:\n${lines.join('\n')}`;
  return new CascadeError('CONFIG_INVALID', message, { issues: sorted });
}

function sortIssues(issues: readonly ConfigIssue[], fileOrder: readonly string[]): ConfigIssue[] {
  const rank = (issue: ConfigIssue): number => {
    if (issue.file === null) return fileOrder.length;
    const position = fileOrder.indexOf(issue.file);
    return position < 0 ? fileOrder.length : position;
  };
  return [...issues].sort((a, b) => rank(a) - rank(b) || (a.line ?? 0) - (b.line ?? 0));
}

const MAX_SHOWN_VALUE_CHARS = 80;

/** Describes a TOML value for a message: strings quoted, tables and dates named. */
export function describeValue(value: unknown): string {
  const text = renderValue(value);
  if (text.length <= MAX_SHOWN_VALUE_CHARS) return text;
  return `${text.slice(0, MAX_SHOWN_VALUE_CHARS - 3)}...`;
}

function renderValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (Array.isArray(value)) return `[${value.map(renderValue).join(', ')}]`;
  if (typeof value === 'object' && value !== null) return 'a table';
  return String(value);
}

/**
 * Builds the message for an unknown key or table. It names the closest known one when
 * that is near enough to be a typo, and lists the known ones otherwise.
 */
export function unknownKeyMessage(key: string, knownKeys: readonly string[], kind: 'key' | 'table' = 'key'): string {
  const suggestion = closestMatch(key, knownKeys);
  const name = kind === 'table' ? `table [${key}]` : `key "${key}"`;
  if (suggestion !== null) return `unknown ${name}; did you mean ${kind === 'table' ? `[${suggestion}]` : `"${suggestion}"`}?`;
  return `unknown ${name}; known ${kind}s here: ${knownKeys.join(', ')}`;
}

/**
 * Returns the candidate with the smallest case-insensitive edit distance to `word`, or
 * null when that distance exceeds max(2, a third of the word's length).
 */
export function closestMatch(word: string, candidates: readonly string[]): string | null {
  const allowed = Math.max(2, Math.floor(word.length / 3));
  let best: string | null = null;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= allowed ? best : null;
}

/** Levenshtein distance, computed row by row. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, column) => column);
  for (let row = 1; row <= a.length; row += 1) {
    const current = [row];
    for (let column = 1; column <= b.length; column += 1) {
      const substitution = (previous[column - 1] ?? 0) + (a[row - 1] === b[column - 1] ? 0 : 1);
      const deletion = (previous[column] ?? 0) + 1;
      const insertion = (current[column - 1] ?? 0) + 1;
      current.push(Math.min(substitution, deletion, insertion));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
