import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildAnswer } from '../../src/pipeline/answer.js';
import { rankClasses, toProbabilities } from '../../src/runtime/postprocess.js';
import { isCascadeError } from '../../src/shared/errors.js';

describe('answer shape', () => {
  it('uses the exact keys clients parse', () => {
    const [category] = rankClasses([0.1, 0.9], ['Eczema', 'Acne and Rosacea']);
    const diseases = rankClasses([0.2, 0.7, 0.1], ['Rosacea', 'milia', 'Infantile acne']);
    assert.ok(category !== undefined);
    const answer = buildAnswer(category, diseases, 'second-0');
    assert.deepEqual(Object.keys(answer), ['category', 'predetection', 'propability', 'secondModel']);
    assert.equal(answer.category, 'Acne and Rosacea');
    assert.equal(answer.propability, 0.9);
    assert.deepEqual(answer.predetection, [
      { diseases: 'milia', probability: 0.7 },
      { diseases: 'Rosacea', probability: 0.2 },
      { diseases: 'Infantile acne', probability: 0.1 },
    ]);
    assert.deepEqual(Object.keys(answer.predetection[0] ?? {}), ['diseases', 'probability']);
  });

  it('answers an empty predetection when no second model exists', () => {
    const [category] = rankClasses([1], ['Urticaria Hives']);
    assert.ok(category !== undefined);
    const answer = buildAnswer(category, null, null);
    assert.deepEqual(answer.predetection, []);
    assert.equal(answer.secondModel, null);
  });
});

describe('rankClasses', () => {
  it('orders most likely first and keeps output order on ties', () => {
    const ranked = rankClasses([0.25, 0.5, 0.25], ['a', 'b', 'c']);
    assert.deepEqual(ranked.map((entry) => entry.label), ['b', 'a', 'c']);
    assert.deepEqual(ranked.map((entry) => entry.index), [1, 0, 2]);
  });

  it('names unlabelled classes by index', () => {
    assert.equal(rankClasses([0.3, 0.7], [])[0]?.label, 'class_1');
  });
});

describe('toProbabilities', () => {
  const sum = (values: number[]): number => values.reduce((total, value) => total + value, 0);

  it('keeps softmax outputs and renormalizes them', () => {
    const probabilities = toProbabilities(Float32Array.from([0.2, 0.3, 0.5]), 'auto', 'm');
    assert.ok(Math.abs(sum(probabilities) - 1) < 1e-12);
    assert.ok(Math.abs((probabilities[2] ?? 0) - 0.5) < 1e-6);
  });

  it('applies softmax to logits in auto mode', () => {
    const probabilities = toProbabilities(Float32Array.from([2, -1, 0.5]), 'auto', 'm');
    assert.ok(Math.abs(sum(probabilities) - 1) < 1e-12);
    const expected = Math.exp(2) / (Math.exp(2) + Math.exp(-1) + Math.exp(0.5));
    assert.ok(Math.abs((probabilities[0] ?? 0) - expected) < 1e-9);
  });

  it('expands one sigmoid output into two classes', () => {
    assert.deepEqual(toProbabilities(Float32Array.from([0.75]), 'auto', 'm'), [0.25, 0.75]);
  });

  it('rejects non-finite outputs', () => {
    assert.throws(() => toProbabilities(Float32Array.from([Number.NaN, 1]), 'auto', 'm'), (error) => isCascadeError(error) && error.code === 'INFERENCE_FAILED');
  });

  it('rejects values outside [0, 1] declared as probabilities', () => {
    assert.throws(() => toProbabilities(Float32Array.from([2, -1]), 'probabilities', 'm'), (error) => isCascadeError(error) && /softmax/.test(error.message));
  });
});
