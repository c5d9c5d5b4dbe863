import type { OutputMode } from '../config/types.js';
import { CascadeError } from '../shared/errors.js';

/** Tolerance for "the outputs already sum to 1" in `auto` mode (float32 rounding). */
const DISTRIBUTION_TOLERANCE = 1e-3;

/**
 * Turns raw model outputs into class probabilities that are finite, in [0, 1] and sum
 * to 1. A single sigmoid output p becomes the two classes [1 - p, p].
 */
export function toProbabilities(raw: Float32Array, mode: OutputMode, modelId: string): number[] {
  const values = Array.from(raw);
  if (values.some((value) => !Number.isFinite(value))) {
    throw new CascadeError('INFERENCE_FAILED', `Model '${modelId}' produced a non-finite output (NaN or Infinity); check the model file and its preprocessing.`, { model: modelId });
  }
  const resolved = resolveMode(values, mode);
  switch (resolved) {
    case 'sigmoid':
      return sigmoidPair(values, modelId);
    case 'softmax':
      return softmax(values);
    case 'probabilities':
      return normalize(values, modelId);
  }
}

function resolveMode(values: number[], mode: OutputMode): Exclude<OutputMode, 'auto'> {
  if (mode !== 'auto') return mode;
  if (values.length === 1) return 'sigmoid';
  const inRange = values.every((value) => value >= 0 && value <= 1);
  const sum = values.reduce((total, value) => total + value, 0);
  return inRange && Math.abs(sum - 1) <= DISTRIBUTION_TOLERANCE ? 'probabilities' : 'softmax';
}

function sigmoidPair(values: number[], modelId: string): number[] {
  if (values.length !== 1) {
    throw new CascadeError('INFERENCE_FAILED', `Model '${modelId}' is configured with output = "sigmoid" but has ${values.length} outputs; sigmoid needs exactly 1. Set output = "softmax" or "probabilities".`, { model: modelId });
  }
  const value = values[0] ?? 0;
  // A sigmoid layer already returns p; anything outside [0, 1] is a logit.
  const p = value >= 0 && value <= 1 ? value : 1 / (1 + Math.exp(-value));
  return [1 - p, p];
}

export function softmax(values: number[]): number[] {
  const max = Math.max(...values);
  const exps = values.map((value) => Math.exp(value - max));
  const sum = exps.reduce((total, value) => total + value, 0);
  return exps.map((value) => value / sum);
}

function normalize(values: number[], modelId: string): number[] {
  if (values.some((value) => value < 0 || value > 1)) {
    throw new CascadeError('INFERENCE_FAILED', `Model '${modelId}' is configured with output = "probabilities" but produced values outside [0, 1]; set output = "softmax".`, { model: modelId });
  }
  const sum = values.reduce((total, value) => total + value, 0);
  if (sum <= 0) return values.map(() => 1 / values.length);
  // Float32 softmax outputs sum to 1 only within rounding; renormalizing keeps the
  // documented "sums to 1" true in double precision.
  return values.map((value) => value / sum);
}

export interface RankedClass {
  index: number;
  label: string;
  probability: number;
}

/** Returns classes most likely first; ties keep output order. */
export function rankClasses(probabilities: number[], labels: string[]): RankedClass[] {
  return probabilities
    .map((probability, index) => ({ index, label: labels[index] ?? `class_${index}`, probability }))
    .sort((left, right) => right.probability - left.probability || left.index - right.index);
}

export function defaultLabels(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `class_${index}`);
}
