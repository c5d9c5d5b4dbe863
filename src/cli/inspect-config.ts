/**
 * Turns the flags of `cascade inspect` into the ModelConfig an engine would load: the
 * flags alone, or a cluster config entry with the flags on top of it.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { CONFIG_DEFAULTS } from '../config/defaults.js';
import { readLabelsFile } from '../config/models.js';
import { SCALE_MODES, SCALE_NAME_BY_MODE, type ScaleName } from '../config/schema.js';
import type { ChannelOrder, InputLayout, ModelConfig, ModelFormatName, OutputMode, ResizeMethod, Scaling } from '../config/types.js';
import type { ModelHints } from '../formats/types.js';

/** Model settings given as flags; each value was already checked by its option parser. */
export interface ModelFlags {
  format?: ModelFormatName;
  /** [height, width] in pixels. */
  inputSize?: [number, number];
  resize?: ResizeMethod;
  scale?: ScaleName;
  mean?: [number, number, number];
  std?: [number, number, number];
  channelOrder?: ChannelOrder;
  layout?: InputLayout;
  output?: OutputMode;
  labels?: string[];
  labelsFile?: string;
}

/** Source of a resolved setting, shown next to it in the report. */
export type SettingOrigin = 'flag' | 'config' | 'model' | 'default';

export interface SettingOrigins {
  inputSize: SettingOrigin;
  resize: SettingOrigin;
  scale: SettingOrigin;
  channelOrder: SettingOrigin;
  layout: SettingOrigin;
  output: SettingOrigin;
  labels: SettingOrigin;
}

export interface ResolvedModelConfig {
  config: ModelConfig;
  origins: SettingOrigins;
  /** Sentences about choices the user should know of, such as a scale picked from the model. */
  notes: string[];
}

/** The model file and the config entry (null without --config) that the settings start from. */
export interface ModelBase {
  id: string;
  source: string;
  /** Expected sha256 of `source`: the entry's, unless a file argument replaced the entry's file. */
  sha256: string | null;
  entry: ModelConfig | null;
}

const SIDE_MAX = 65535;

/** Parses `--input-size`: `224` for a square input or `HxW` such as `224x192`. */
export function parseInputSize(value: string): [number, number] {
  const match = /^(\d+)(?:x(\d+))?$/i.exec(value.trim());
  const height = Number(match?.[1]);
  const width = match?.[2] === undefined ? height : Number(match[2]);
  const valid = (side: number): boolean => Number.isInteger(side) && side >= 1 && side <= SIDE_MAX;
  if (match === null || !valid(height) || !valid(width)) {
    throw new InvalidArgumentError(`'${value}' is not an input size; give H or HxW in pixels from 1 to ${SIDE_MAX}, such as 224 or 224x192.`);
  }
  return [height, width];
}

/** Parses `--mean`: three comma-separated numbers in 0..1, one per channel. */
export function parseMean(value: string): [number, number, number] {
  return parseChannelTriple(value, '--mean', (number) => number >= 0 && number <= 1, 'from 0 to 1, such as 0.485,0.456,0.406');
}

/** Parses `--std`: three comma-separated numbers above 0 and at most 1, one per channel. */
export function parseStd(value: string): [number, number, number] {
  return parseChannelTriple(value, '--std', (number) => number > 0 && number <= 1, 'above 0 and at most 1, such as 0.229,0.224,0.225');
}

function parseChannelTriple(value: string, flag: string, inRange: (number: number) => boolean, expected: string): [number, number, number] {
  const parts = value.split(',').map((part) => part.trim());
  const numbers = parts.map((part) => (part === '' ? Number.NaN : Number(part)));
  const [first, second, third] = numbers;
  if (numbers.length !== 3 || first === undefined || second === undefined || third === undefined || !numbers.every((number) => Number.isFinite(number) && inRange(number))) {
    throw new InvalidArgumentError(`'${value}' is not valid for ${flag}; give 3 comma-separated numbers ${expected}.`);
  }
  return [first, second, third];
}

/** Parses `--labels a,b,c`: non-empty, unique labels in output order. */
export function parseLabelList(value: string): string[] {
  const labels = value.split(',').map((label) => label.trim());
  if (labels.some((label) => label === '')) {
    throw new InvalidArgumentError(`'${value}' has an empty label; give comma-separated labels such as akiec,bcc,mel, or use --labels-file for labels that contain commas.`);
  }
  const duplicate = labels.find((label, index) => labels.indexOf(label) !== index);
  if (duplicate !== undefined) throw new InvalidArgumentError(`'${value}' lists the label '${duplicate}' twice; labels must be unique.`);
  return labels;
}

/** Picks the file format from the flag, then the config entry, then the default (`auto`). */
export function resolveFormat(flags: ModelFlags, entry: ModelConfig | null): ModelFormatName {
  return flags.format ?? entry?.format ?? CONFIG_DEFAULTS.model.format;
}

/**
 * Builds the ModelConfig for one inspection. Flags win over the config entry, and the
 * entry wins over the defaults. Without a `--scale` flag or an entry, a model that
 * rescales pixels in its graph gets scale `none` instead of the default `1/255`, so the
 * pixels are not scaled twice.
 */
export function buildModelConfig(base: ModelBase, flags: ModelFlags, hints: ModelHints): ResolvedModelConfig {
  const { entry } = base;
  const notes: string[] = [];
  const scaling = resolveScaling(flags, entry, hints, notes);
  const labels = resolveLabels(flags, entry);
  const [height, width] = flags.inputSize ?? [entry?.preprocessing.height ?? null, entry?.preprocessing.width ?? null];
  // A loaded entry has every default filled in, so a value equal to the default is
  // reported as the default: the entry may not have set it.
  const pick = <T>(flag: T | undefined, fromEntry: T | undefined, fallback: T): [T, SettingOrigin] => {
    if (flag !== undefined) return [flag, 'flag'];
    if (fromEntry !== undefined && fromEntry !== fallback) return [fromEntry, 'config'];
    return [fallback, 'default'];
  };
  const [resize, resizeOrigin] = pick(flags.resize, entry?.preprocessing.resize, CONFIG_DEFAULTS.model.resize);
  const [channelOrder, channelOrderOrigin] = pick(flags.channelOrder, entry?.preprocessing.channelOrder, CONFIG_DEFAULTS.model.channelOrder);
  const [layout, layoutOrigin] = pick(flags.layout, entry?.preprocessing.layout, CONFIG_DEFAULTS.model.layout);
  const [output, outputOrigin] = pick(flags.output, entry?.output, CONFIG_DEFAULTS.model.output);

  const config: ModelConfig = {
    id: base.id,
    tier: entry?.tier ?? 'basic',
    parents: entry === null ? [0] : [...entry.parents],
    source: base.source,
    sha256: base.sha256,
    format: resolveFormat(flags, entry),
    category: entry?.category ?? null,
    categoryName: entry?.categoryName ?? null,
    labels: labels.labels,
    preprocessing: { width, height, resize, scaling: scaling.scaling, channelOrder, layout },
    output,
  };
  let inputSizeOrigin: SettingOrigin = 'model';
  if (flags.inputSize !== undefined) inputSizeOrigin = 'flag';
  else if (height !== null) inputSizeOrigin = 'config';
  const origins: SettingOrigins = {
    inputSize: inputSizeOrigin,
    resize: resizeOrigin,
    scale: scaling.origin,
    channelOrder: channelOrderOrigin,
    // `auto` takes the layout from the model's input shape.
    layout: layout === 'auto' ? 'model' : layoutOrigin,
    output: outputOrigin,
    labels: labels.origin,
  };
  return { config, origins, notes };
}

function resolveScaling(flags: ModelFlags, entry: ModelConfig | null, hints: ModelHints, notes: string[]): { scaling: Scaling; origin: SettingOrigin } {
  const entryScaling = entry?.preprocessing.scaling ?? null;
  if (flags.scale !== undefined) return { scaling: scalingFromFlags(flags.scale, flags, entryScaling), origin: 'flag' };

  if (entryScaling !== null && entryScaling.mode !== 'auto') {
    const scaling = scalingFromFlags(SCALE_NAME_BY_MODE[entryScaling.mode], flags, entryScaling);
    if (hints.rescalesInGraph && scaling.mode !== 'none') {
      notes.push(`The model rescales pixels in its graph, but the config entry scales them by ${SCALE_NAME_BY_MODE[scaling.mode]} as well; if the model was trained on raw 0..255 pixels, set scale = "none" in the entry.`);
    }
    return { scaling, origin: 'config' };
  }

  if (hints.rescalesInGraph) {
    notes.push('The model rescales pixels in its graph (a Rescaling layer after the input), so the scale defaults to none instead of 1/255; pass --scale to choose another.');
    return { scaling: scalingFromFlags('none', flags, null), origin: 'model' };
  }
  // The engine decides `auto` the same way: a graph without its own Rescaling gets 1/255.
  return { scaling: scalingFromFlags('1/255', flags, null), origin: 'default' };
}

/**
 * Builds the scaling for scale `name`. Mean and std come from the flags, else from an
 * entry that standardizes too. As in the config file, mean_std requires both, and the
 * other scales reject them.
 */
function scalingFromFlags(name: ScaleName, flags: ModelFlags, entryScaling: Scaling | null): Scaling {
  const mode = SCALE_MODES[name];
  if (mode !== 'standardize') {
    let extra: string | null = null;
    if (flags.mean !== undefined) extra = '--mean';
    else if (flags.std !== undefined) extra = '--std';
    if (extra !== null) throw new InvalidArgumentError(`${extra} applies only with --scale mean_std, but the scale is ${name}; add --scale mean_std or remove ${extra}.`);
    return { mode, mean: [0, 0, 0], std: [1, 1, 1] };
  }
  const inherited = entryScaling?.mode === 'standardize' ? entryScaling : null;
  const mean = flags.mean ?? inherited?.mean;
  const std = flags.std ?? inherited?.std;
  if (mean === undefined || std === undefined) {
    const missing = [mean === undefined ? '--mean' : null, std === undefined ? '--std' : null].filter((flag) => flag !== null).join(' and ');
    throw new InvalidArgumentError(`--scale mean_std needs ${missing}, 3 numbers per flag in 0..1 units, such as --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225.`);
  }
  return { mode, mean: [...mean], std: [...std] };
}

function resolveLabels(flags: ModelFlags, entry: ModelConfig | null): { labels: string[] | null; origin: SettingOrigin } {
  if (flags.labels !== undefined && flags.labelsFile !== undefined) {
    throw new InvalidArgumentError('--labels and --labels-file were both given; keep one of them.');
  }
  if (flags.labels !== undefined) return { labels: flags.labels, origin: 'flag' };
  if (flags.labelsFile !== undefined) {
    const result = readLabelsFile(resolve(flags.labelsFile));
    if (!Array.isArray(result)) throw new InvalidArgumentError(`--labels-file: ${result.problem}.`);
    return { labels: result, origin: 'flag' };
  }
  if (entry !== null && entry.labels !== null) return { labels: [...entry.labels], origin: 'config' };
  return { labels: null, origin: 'default' };
}
