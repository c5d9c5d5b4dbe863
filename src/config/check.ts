/**
 * Checks that span tables: model parents against `[Servers]`, and second-model
 * categories against the basic model's labels and against each other.
 */

import { closestMatch, describeValue, issueAt, type ConfigIssue, type TableOrigin } from './issues.js';
import { MAX_TABLE_INDEX } from './schema.js';
import type { ModelConfig } from './types.js';

export interface CategoryChoice {
  category: number;
  categoryName: string | null;
}

/**
 * Resolves the category a `[Second.N]` table serves: `category` as an index, or as a
 * name looked up in the basic model's labels, or N itself when the key is absent.
 * Comments in the file never count, because TOML parsers drop them.
 */
export function resolveCategory(
  written: number | string | undefined,
  tableIndex: number,
  basicLabels: readonly string[] | null,
  origin: TableOrigin,
): CategoryChoice | ConfigIssue {
  if (typeof written === 'string') return resolveCategoryName(written, basicLabels, origin);

  const category = written ?? tableIndex;
  if (basicLabels === null || category < basicLabels.length) return { category, categoryName: null };

  const range = `[Basic] has ${basicLabels.length} labels, so categories run 0..${basicLabels.length - 1}`;
  if (written === undefined) {
    return issueAt(origin, [], `serves category ${category} (the table key, because it has no category key), but ${range}; add category = "<label>" or an index`);
  }
  return issueAt(origin, ['category'], `found ${category}, but ${range}; use an index in that range or a label`);
}

function resolveCategoryName(name: string, basicLabels: readonly string[] | null, origin: TableOrigin): CategoryChoice | ConfigIssue {
  if (basicLabels === null) {
    return issueAt(origin, ['category'], `found ${describeValue(name)}, but [Basic] has no labels to match it against; add labels or labels_file to [Basic], or give the category as an index`);
  }
  const category = basicLabels.indexOf(name);
  if (category >= 0) return { category, categoryName: name };
  return issueAt(origin, ['category'], `found ${describeValue(name)}, expected one of the basic model's labels${suggestLabel(name, basicLabels)}`);
}

/** Suggests the nearest label by edit distance, else the labels that contain the name. */
function suggestLabel(name: string, labels: readonly string[]): string {
  const closest = closestMatch(name, labels);
  if (closest !== null) return `; did you mean ${describeValue(closest)}?`;
  const lowered = name.toLowerCase();
  const containing = labels.filter((label) => label.toLowerCase().includes(lowered));
  if (containing.length > 0) return `; did you mean ${containing.map((label) => describeValue(label)).join(' or ')}?`;
  return ` (labels must match exactly, including case and spaces)`;
}

export interface LocatedModel {
  model: ModelConfig;
  origin: TableOrigin;
  /** Whether the table has a `category` key; issues point at it, or else at the header. */
  hasCategoryKey: boolean;
}

/** Reports second models that serve a category another second model already serves. */
export function checkUniqueCategories(seconds: readonly LocatedModel[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const servedBy = new Map<number, string>();
  for (const { model, origin, hasCategoryKey } of seconds) {
    if (model.category === null) continue;
    const earlier = servedBy.get(model.category);
    if (earlier === undefined) {
      servedBy.set(model.category, origin.path.join('.'));
      continue;
    }
    const named = model.categoryName === null ? '' : ` (${describeValue(model.categoryName)})`;
    const key = hasCategoryKey ? ['category'] : [];
    issues.push(issueAt(origin, key, `serves category ${model.category}${named}, which [${earlier}] already serves; each category has one second model, so change one category`));
  }
  return issues;
}

/** A `parent` value as written, checked even when the rest of its table is invalid. */
export interface ParentReference {
  value: unknown;
  origin: TableOrigin;
}

/**
 * Reports parents that name no `[Servers.N]` table. Values of the wrong type or range
 * are skipped here because the table's schema already reports them.
 */
export function checkParents(reference: ParentReference, serverIndexes: ReadonlySet<number>): ConfigIssue[] {
  const known = [...serverIndexes].sort((a, b) => a - b).join(', ');
  const values: unknown[] = Array.isArray(reference.value) ? reference.value : [reference.value];
  return values
    .filter((value): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_TABLE_INDEX)
    .filter((index) => !serverIndexes.has(index))
    .map((index) => issueAt(reference.origin, ['parent'], `found ${index}, expected a server index from [Servers] (${known})`));
}
