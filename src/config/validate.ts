/**
 * Splits the parsed files into top-level tables and checks each table against its zod
 * schema, turning every zod issue into a ConfigIssue with file, line and key path.
 */

import type { z } from 'zod';

import { describeValue, issueAt, unknownKeyMessage, type ConfigIssue, type TableOrigin } from './issues.js';
import type { ParsedConfigFile } from './locate.js';
import { MAX_TABLE_INDEX, SECTION_NAMES, serversCountSchema, type SectionName } from './schema.js';

/** A value from a TOML file together with where it was written. */
export interface Located<T> {
  value: T;
  origin: TableOrigin;
}

export interface IndexedTable extends Located<unknown> {
  /** N of `[Servers.N]` or `[Second.N]`. */
  index: number;
}

export type Sections = Partial<Record<SectionName, Located<unknown>>>;

export interface Validated<T> {
  /** Null when the table has issues. */
  data: T | null;
  issues: ConfigIssue[];
}

/** Tells TOML tables from other values. Arrays and dates are objects too, but not tables. */
export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function isSectionName(key: string): key is SectionName {
  return SECTION_NAMES.some((name) => name === key);
}

/**
 * Collects the top-level tables of all files. Each table may appear in one file only:
 * a table found in a second file is an issue naming both files.
 */
export function collectSections(files: readonly ParsedConfigFile[]): { sections: Sections; issues: ConfigIssue[] } {
  const sections: Sections = {};
  const issues: ConfigIssue[] = [];
  for (const file of files) {
    for (const [key, value] of Object.entries(file.data)) {
      const origin: TableOrigin = { source: file, path: [key] };
      if (!isSectionName(key)) {
        issues.push(issueAt({ source: file, path: [] }, [key], unknownKeyMessage(key, SECTION_NAMES, isTable(value) ? 'table' : 'key')));
        continue;
      }
      const earlier = sections[key];
      if (earlier === undefined) {
        sections[key] = { value, origin };
        continue;
      }
      issues.push(duplicateTableIssue(key, earlier.origin, origin));
    }
  }
  return { sections, issues };
}

function duplicateTableIssue(name: string, earlier: TableOrigin, later: TableOrigin): ConfigIssue {
  const where = earlier.source === null ? 'another file' : `${earlier.source.displayPath}:${earlier.source.lines.lineOf([name]) ?? 1}`;
  return issueAt(later, [], `table [${name}] is already defined in ${where}; keep each top-level table in one file`);
}

/** Checks a table that must be a TOML table and match `schema`. */
export function validateTable<Schema extends z.ZodObject>(schema: Schema, located: Located<unknown>): Validated<z.infer<Schema>> {
  const { value, origin } = located;
  if (!isTable(value)) {
    const name = origin.path.join('.');
    return { data: null, issues: [issueAt(origin, [], `found ${describeValue(value)}, expected a table [${name}]`)] };
  }
  const result = schema.safeParse(value);
  if (result.success) return { data: result.data, issues: [] };

  const knownKeys = Object.keys(schema.shape);
  const issues = result.error.issues.flatMap((issue) => convertZodIssue(issue, value, origin, knownKeys));
  return { data: null, issues: dedupeIssues(issues) };
}

type ZodIssue = z.ZodError['issues'][number];

function convertZodIssue(issue: ZodIssue, table: Record<string, unknown>, origin: TableOrigin, knownKeys: readonly string[]): ConfigIssue[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => issueAt(origin, [key], unknownKeyMessage(key, knownKeys)));
  }
  // Tables are flat, so the first path element is the key. Deeper elements such as an
  // array position are left out, because the expected text describes the whole value.
  const key = issue.path[0];
  if (typeof key !== 'string') return [issueAt(origin, [], `expected ${issue.message}`)];

  const found = table[key];
  if (found === undefined) return [issueAt(origin, [key], `missing required key, expected ${issue.message}`)];
  return [issueAt(origin, [key], `found ${describeValue(found)}, expected ${issue.message}`)];
}

function dedupeIssues(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues.filter((issue) => {
    const identity = `${issue.key ?? ''}\u0000${issue.message}`;
    if (seen.has(identity)) return false;
    seen.add(identity);
    return true;
  });
}

const INDEX_KEY = /^(0|[1-9][0-9]*)$/;

export interface IndexedSection {
  entries: IndexedTable[];
  /** `number` of `[Servers]` when present and valid. */
  count: Located<number> | null;
}

/**
 * Splits `[Servers]` or `[Second]` into its `[Name.N]` tables, sorted by N. The only
 * other key allowed is `number` in `[Servers]`.
 */
export function splitIndexedSection(located: Located<unknown>): Validated<IndexedSection> {
  const { value, origin } = located;
  const name = origin.path.join('.');
  if (!isTable(value)) {
    return { data: null, issues: [issueAt(origin, [], `found ${describeValue(value)}, expected a table [${name}] of [${name}.N] tables`)] };
  }

  const section: IndexedSection = { entries: [], count: null };
  const issues: ConfigIssue[] = [];
  for (const [key, entry] of Object.entries(value)) {
    if (name === 'Servers' && key === 'number') {
      const count = serversCountSchema.safeParse(entry);
      if (count.success) section.count = { value: count.data, origin };
      else issues.push(issueAt(origin, [key], `found ${describeValue(entry)}, expected ${count.error.issues[0]?.message ?? 'a whole number'}`));
      continue;
    }
    const problem = checkIndexedEntry(name, key, entry);
    if (problem !== null) {
      issues.push(issueAt(origin, [key], problem));
      continue;
    }
    section.entries.push({ index: Number(key), value: entry, origin: { source: origin.source, path: [...origin.path, key] } });
  }
  section.entries.sort((a, b) => a.index - b.index);
  // The valid entries are returned with the issues, so their own problems are reported
  // in the same run instead of after the bad keys are fixed.
  return { data: section, issues };
}

function checkIndexedEntry(section: string, key: string, entry: unknown): string | null {
  if (!isTable(entry)) {
    if (section === 'Servers') return unknownKeyMessage(key, ['number']);
    return `unknown key "${key}"; [Second] contains only [Second.N] tables, such as [Second.0]`;
  }
  if (!INDEX_KEY.test(key) || Number(key) > MAX_TABLE_INDEX) {
    return `found table [${section}.${key}], expected a whole-number index 0..${MAX_TABLE_INDEX} such as [${section}.0]`;
  }
  return null;
}
