/**
 * Shapes of the TOML tables, as users write them (snake_case keys). Each schema checks
 * one table; every check carries the same "expected" text, which the loader prints after
 * the value it found. Rules that span keys or tables are in check.ts.
 */

import { isIPv4 } from 'node:net';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

import type { ChannelOrder, InputLayout, ModelFormatName, OutputMode, ResizeMethod, ScalingMode } from './types.js';

/** Largest N accepted in `[Servers.N]` and `[Second.N]`, and in `category`. */
export const MAX_TABLE_INDEX = 9999;

export const RESIZE_METHODS = ['nearest', 'bilinear', 'bicubic', 'lanczos3'] as const satisfies readonly ResizeMethod[];
export const MODEL_FORMATS = ['auto', 'onnx', 'keras'] as const satisfies readonly ModelFormatName[];
export const CHANNEL_ORDERS = ['rgb', 'bgr'] as const satisfies readonly ChannelOrder[];
export const INPUT_LAYOUTS = ['auto', 'nhwc', 'nchw'] as const satisfies readonly InputLayout[];
export const OUTPUT_MODES = ['auto', 'probabilities', 'softmax', 'sigmoid'] as const satisfies readonly OutputMode[];

/** `scale` values as users write them, and the scaling mode each one selects. */
export const SCALE_MODES = {
  auto: 'auto',
  none: 'none',
  '1/255': 'unit',
  '[-1,1]': 'symmetric',
  mean_std: 'standardize',
} as const satisfies Record<string, ScalingMode>;

export type ScaleName = keyof typeof SCALE_MODES;
const SCALE_NAMES = ['auto', 'none', '1/255', '[-1,1]', 'mean_std'] as const satisfies readonly ScaleName[];

/** The inverse of SCALE_MODES, for writing files. */
export const SCALE_NAME_BY_MODE: Record<ScalingMode, ScaleName> = {
  auto: 'auto',
  none: 'none',
  unit: '1/255',
  symmetric: '[-1,1]',
  standardize: 'mean_std',
};

export const SECTION_NAMES = ['Servers', 'Basic', 'Second', 'Coordinator', 'Limits', 'Timing'] as const;
export type SectionName = (typeof SECTION_NAMES)[number];

function integer(min: number, max: number, expected: string) {
  const error = { error: expected };
  return z.number(error).int(error).min(min, error).max(max, error);
}

function text(expected: string) {
  const error = { error: expected };
  return z.string(error).trim().min(1, error);
}

function oneOf<const Values extends readonly [string, ...string[]]>(values: Values) {
  const quoted = values.map((value) => JSON.stringify(value));
  return z.enum(values, { error: `one of ${quoted.join(', ')}` });
}

function channelTriple(expected: string, min: number, minInclusive: boolean) {
  const error = { error: expected };
  const channel = minInclusive ? z.number(error).min(min, error).max(1, error) : z.number(error).gt(min, error).max(1, error);
  return z.tuple([channel, channel, channel], error);
}

const SERVER_INDEX = `a server index from [Servers] (a whole number 0..${MAX_TABLE_INDEX})`;
const serverIndex = integer(0, MAX_TABLE_INDEX, SERVER_INDEX);
const PARENT = 'a server index or a list of them, such as 0 or [0, 1]';
const SIDE = 'a size in pixels (a whole number 1..65535)';
const side = integer(1, 65535, SIDE);
const INPUT_SIZE = 'a size in pixels for a square input, or [height, width], such as 224 or [224, 224]';
const LABEL = 'a non-empty label';
const LABELS = 'a non-empty list of labels, such as ["akiec", "bcc"]';
const MODEL_SOURCE = 'a Google Drive file id, an http(s) URL or a local path';
const CATEGORY = `an index of the basic model's outputs (0..${MAX_TABLE_INDEX}) or one of its labels`;

/** Rejects URLs that do not parse and URL schemes other than http, https and file. */
function isSupportedSource(value: string): boolean {
  if (/^https?:\/\//i.test(value)) return URL.canParse(value);
  if (/^file:\/\//i.test(value)) return isLocalFileUrl(value);
  return !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value);
}

/** Tells whether a file URL names a local path, which one with a host (`file://server/x`) does not. */
function isLocalFileUrl(value: string): boolean {
  try {
    fileURLToPath(value);
    return true;
  } catch {
    return false;
  }
}

export const serverTableSchema = z.strictObject({
  ipv4: z.string({ error: 'an IPv4 address such as "10.0.0.5"' }).refine((value) => isIPv4(value), { error: 'an IPv4 address such as "10.0.0.5"' }),
  port: integer(1, 65535, 'a TCP port (1..65535)').optional(),
  name: text('a non-empty server name').optional(),
});

export const serversCountSchema = integer(0, MAX_TABLE_INDEX + 1, 'the count of [Servers.N] tables, as a whole number');

const modelFields = {
  parent: z.union([serverIndex, z.array(serverIndex, { error: PARENT }).min(1, { error: PARENT })], { error: PARENT }),
  model: text(MODEL_SOURCE).refine(isSupportedSource, { error: `${MODEL_SOURCE} (only http, https and file URLs are supported)` }),
  sha256: z
    .string({ error: 'a sha256 digest (64 hex digits)' })
    .regex(/^[0-9a-fA-F]{64}$/, { error: 'a sha256 digest (64 hex digits)' })
    .optional(),
  format: oneOf(MODEL_FORMATS).optional(),
  labels: z.array(text(LABEL), { error: LABELS }).min(1, { error: LABELS }).optional(),
  labels_file: text('a path to a text file with one label per line').optional(),
  input_size: z.union([side, z.tuple([side, side], { error: INPUT_SIZE })], { error: INPUT_SIZE }).optional(),
  resize: oneOf(RESIZE_METHODS).optional(),
  scale: oneOf(SCALE_NAMES).optional(),
  mean: channelTriple('3 numbers from 0 to 1, one per channel, such as [0.485, 0.456, 0.406]', 0, true).optional(),
  std: channelTriple('3 numbers above 0 and at most 1, one per channel, such as [0.229, 0.224, 0.225]', 0, false).optional(),
  channel_order: oneOf(CHANNEL_ORDERS).optional(),
  layout: oneOf(INPUT_LAYOUTS).optional(),
  output: oneOf(OUTPUT_MODES).optional(),
};

export const basicTableSchema = z.strictObject(modelFields);

export const secondTableSchema = z.strictObject({
  ...modelFields,
  category: z.union([integer(0, MAX_TABLE_INDEX, CATEGORY), text(CATEGORY)], { error: CATEGORY }).optional(),
});

export const coordinatorTableSchema = z.strictObject({
  host: text('a host name or IP address to listen on, such as "0.0.0.0"').optional(),
  port: integer(0, 65535, 'a TCP port (0..65535, 0 picks a free port)').optional(),
  data_dir: text('a directory path').optional(),
});

const positiveCount = (unit: string) => integer(1, Number.MAX_SAFE_INTEGER, `a whole number of ${unit}, at least 1`);
const DAY_MS = 86_400_000;
const duration = integer(1, DAY_MS, `a duration in milliseconds (1..${DAY_MS})`);

export const limitsTableSchema = z.strictObject({
  max_body_bytes: positiveCount('bytes').optional(),
  max_pixels: positiveCount('pixels').optional(),
  min_width: positiveCount('pixels').optional(),
  min_height: positiveCount('pixels').optional(),
});

export const timingTableSchema = z.strictObject({
  heartbeat_interval_ms: duration.optional(),
  engine_down_after_ms: duration.optional(),
  inference_timeout_ms: duration.optional(),
  load_timeout_ms: duration.optional(),
});

export type RawServerTable = z.infer<typeof serverTableSchema>;
export type RawBasicTable = z.infer<typeof basicTableSchema>;
export type RawSecondTable = z.infer<typeof secondTableSchema>;
export type RawModelTable = RawBasicTable | RawSecondTable;
export type RawCoordinatorTable = z.infer<typeof coordinatorTableSchema>;
export type RawLimitsTable = z.infer<typeof limitsTableSchema>;
export type RawTimingTable = z.infer<typeof timingTableSchema>;
