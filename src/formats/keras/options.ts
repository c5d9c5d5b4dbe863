/**
 * Typed access to a layer's config that records which keys the converter read.
 * `finish()` then rejects every other key that carries a value, so an option this
 * converter does not implement fails loudly instead of being silently ignored.
 */
import { unsupported, type ConversionContext } from './context.js';
import { isJsonObject, type Json, type LayerSpec } from './config.js';

/**
 * Keys that never change what a layer computes at inference: names, training-only
 * settings and the input shape hints (the model's InputLayer decides the shape).
 */
const INERT_KEYS = new Set([
  'name',
  'trainable',
  'dtype',
  'batch_input_shape',
  'batch_shape',
  'input_shape',
  'input_dim',
  'activity_regularizer',
]);

const INERT_SUFFIXES = ['_initializer', '_regularizer', '_constraint'];

export class LayerOptions {
  private readonly context: ConversionContext;
  readonly layer: LayerSpec;
  private readonly read = new Set<string>();

  constructor(context: ConversionContext, layer: LayerSpec) {
    this.context = context;
    this.layer = layer;
  }

  /** Marks keys that the layer accepts but that do not affect inference (such as Dropout's `rate`). */
  ignore(...keys: string[]): void {
    keys.forEach((key) => this.read.add(key));
  }

  raw(key: string): Json | undefined {
    this.read.add(key);
    return this.layer.config[key];
  }

  int(key: string, fallback?: number): number {
    const value = this.raw(key);
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    throw this.invalid(key, value, 'an integer');
  }

  number(key: string, fallback?: number): number {
    const value = this.raw(key);
    if ((value === undefined || value === null) && fallback !== undefined) return fallback;
    if (typeof value === 'number') return value;
    throw this.invalid(key, value, 'a number');
  }

  optionalNumber(key: string): number | null {
    const value = this.raw(key);
    if (value === undefined || value === null) return null;
    if (typeof value === 'number') return value;
    throw this.invalid(key, value, 'a number or null');
  }

  boolean(key: string, fallback: boolean): boolean {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    throw this.invalid(key, value, 'true or false');
  }

  /** Reads an integer or a list of `count` integers (Keras accepts `3` for `(3, 3)`). */
  intTuple(key: string, count: number, fallback?: readonly number[]): number[] {
    const value = this.raw(key);
    if ((value === undefined || value === null) && fallback !== undefined) return [...fallback];
    if (typeof value === 'number' && Number.isInteger(value)) return Array.from({ length: count }, () => value);
    if (Array.isArray(value) && value.length === count && value.every((item) => typeof item === 'number' && Number.isInteger(item))) {
      return value.map(Number);
    }
    throw this.invalid(key, value ?? null, `an integer or a list of ${count} integers`);
  }

  /** Reads an integer or a pair of integers, such as a kernel size or strides. */
  intPair(key: string, fallback?: readonly [number, number]): [number, number] {
    const [first, second] = this.intTuple(key, 2, fallback);
    if (first === undefined || second === undefined) throw this.invalid(key, this.layer.config[key], 'two integers');
    return [first, second];
  }

  /** A string option restricted to the values this converter implements. */
  choice<T extends string>(key: string, supported: readonly T[], fallback: T): T {
    const value = this.raw(key);
    if (value === undefined || value === null) return fallback;
    const match = supported.find((candidate) => candidate === value);
    if (match !== undefined) return match;
    throw unsupported(this.context, this.layer, `option ${key}`, value);
  }

  /** Requires `data_format` to be channels_last, the only layout Keras image models here use. */
  channelsLast(): void {
    this.choice('data_format', ['channels_last'], 'channels_last');
  }

  /** Rejects a key when its value is not one of the accepted ones. */
  expect(key: string, accepted: readonly Json[]): void {
    const value = this.raw(key);
    if (value === undefined) return;
    if (accepted.some((candidate) => JSON.stringify(candidate) === JSON.stringify(value))) return;
    throw unsupported(this.context, this.layer, `option ${key}`, value);
  }

  /** Rejects every unread key whose value is not null or false. */
  finish(): void {
    for (const [key, value] of Object.entries(this.layer.config)) {
      if (this.read.has(key) || isInert(key)) continue;
      if (value === null || value === false) continue;
      if (Array.isArray(value) && value.length === 0) continue;
      if (isJsonObject(value) && Object.keys(value).length === 0) continue;
      throw unsupported(this.context, this.layer, `option ${key}`, value);
    }
  }

  private invalid(key: string, value: Json | undefined, expected: string): Error {
    return unsupported(this.context, this.layer, `option ${key} (expected ${expected})`, value ?? null);
  }
}

function isInert(key: string): boolean {
  return INERT_KEYS.has(key) || INERT_SUFFIXES.some((suffix) => key.endsWith(suffix));
}
