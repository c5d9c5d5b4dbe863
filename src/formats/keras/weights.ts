/**
 * Finds a layer's weights in `model_weights`. Keras writes one group per top-level
 * layer, with a `weight_names` attribute listing dataset paths inside that group:
 * `conv2d/kernel:0` (Keras 2) or `sequential/conv2d/kernel` (Keras 3). A nested
 * model's layers have no group of their own: their weights sit in the group of the
 * top-level layer that contains them, named after the inner layer.
 *
 * Lookup is by name, not by position, because the order Keras writes depends on
 * which layers were frozen when the model was saved.
 */
import { CascadeError } from '../../shared/errors.js';
import type { FloatDataset, Hdf5Reader } from './hdf5.js';

/** The location of a layer's weights: its top-level group, and the layer names below it (empty for a top-level layer). */
export interface WeightScope {
  topLevel: string;
  innerPath: string[];
}

interface WeightEntry {
  /** The dataset path relative to the layer group, as listed in `weight_names`. */
  path: string;
  /** Path segments with the `:0` suffix of TensorFlow variable names removed. */
  segments: string[];
}

export class WeightStore {
  private readonly reader: Hdf5Reader;
  private readonly root: string;
  private readonly groupEntries = new Map<string, WeightEntry[]>();

  constructor(reader: Hdf5Reader, root = 'model_weights') {
    this.reader = reader;
    this.root = root;
  }

  forLayer(scope: WeightScope, displayName: string): LayerWeights {
    return new LayerWeights(this, scope, displayName);
  }

  /** Reads the weight named `variable` (any of the alternatives) of the layer at `scope`, or null. */
  find(scope: WeightScope, variables: readonly string[]): FloatDataset | null {
    const entry = this.bestEntry(scope, variables);
    if (entry === null) return null;
    return this.reader.readFloats(`${this.root}/${scope.topLevel}/${entry.path}`);
  }

  listNames(scope: WeightScope): string[] {
    return this.entries(scope.topLevel).map((entry) => entry.path);
  }

  get filePath(): string {
    return this.reader.path;
  }

  /**
   * Picks the entry whose path ends with the longest run of [...innerPath, variable].
   * A top-level layer's group contains only its own weights, so the variable name
   * alone is enough there. A nested layer needs at least its own name to match too.
   */
  private bestEntry(scope: WeightScope, variables: readonly string[]): WeightEntry | null {
    let best: WeightEntry | null = null;
    let bestScore = 0;
    const required = scope.innerPath.length === 0 ? 1 : 2;
    for (const entry of this.entries(scope.topLevel)) {
      for (const variable of variables) {
        const score = suffixMatch(entry.segments, [...scope.innerPath, variable]);
        if (score >= required && score > bestScore) {
          best = entry;
          bestScore = score;
        }
      }
    }
    return best;
  }

  private entries(topLevel: string): WeightEntry[] {
    const cached = this.groupEntries.get(topLevel);
    if (cached !== undefined) return cached;
    const names = this.reader.readStringList(`${this.root}/${topLevel}`, 'weight_names') ?? [];
    const entries = names.map((path) => ({ path, segments: path.split('/').map(stripVariableSuffix) }));
    this.groupEntries.set(topLevel, entries);
    return entries;
  }
}

/** The weights of one layer, with errors that name the layer and what the file has instead. */
export class LayerWeights {
  private readonly store: WeightStore;
  private readonly scope: WeightScope;
  private readonly displayName: string;

  constructor(store: WeightStore, scope: WeightScope, displayName: string) {
    this.store = store;
    this.scope = scope;
    this.displayName = displayName;
  }

  /**
   * A weight that must exist, checked against the expected shape (null entries
   * match any size; a null shape skips the check).
   */
  require(variables: readonly string[], expectedShape: readonly (number | null)[] | null): FloatDataset {
    const found = this.store.find(this.scope, variables);
    if (found === null) {
      const listed = this.store.listNames(this.scope);
      throw new CascadeError(
        'MODEL_LOAD_FAILED',
        `${this.store.filePath}: layer '${this.displayName}' has no weight named ${variables.join(' or ')} in model_weights/${this.scope.topLevel} (it lists: ${listed.join(', ') || 'nothing'}); the file's weights do not match its model_config`,
        { file: this.store.filePath, layer: this.displayName },
      );
    }
    if (expectedShape !== null) checkShape(this.store.filePath, this.displayName, variables[0] ?? '', found.shape, expectedShape);
    return found;
  }
}

function checkShape(file: string, layer: string, variable: string, actual: number[], expected: readonly (number | null)[]): void {
  const matches = actual.length === expected.length && expected.every((dim, index) => dim === null || dim === actual[index]);
  if (matches) return;
  const format = (dims: readonly (number | null)[]): string => `[${dims.map((dim) => dim ?? '?').join(', ')}]`;
  throw new CascadeError(
    'MODEL_LOAD_FAILED',
    `${file}: weight '${variable}' of layer '${layer}' has shape ${format(actual)}, expected ${format(expected)} from the layer config; the file's weights do not match its model_config`,
    { file, layer, variable, shape: actual },
  );
}

function suffixMatch(segments: readonly string[], wanted: readonly string[]): number {
  let count = 0;
  while (count < segments.length && count < wanted.length) {
    if (segments[segments.length - 1 - count] !== wanted[wanted.length - 1 - count]) break;
    count += 1;
  }
  return count;
}

/** TensorFlow names variables `kernel:0`; Keras 3 writes plain `kernel`. */
function stripVariableSuffix(segment: string): string {
  return segment.replace(/:\d+$/, '');
}
