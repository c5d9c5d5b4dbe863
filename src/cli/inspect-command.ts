/**
 * `cascade inspect`: loads one model file the way an engine does (fetch, format
 * detection, conversion, ONNX Runtime session, warm-up) and prints what it read and the
 * settings it resolved. With `--image` it also classifies a photo with those settings.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CONFIG_DEFAULTS } from '../config/defaults.js';
import { loadClusterConfig } from '../config/load.js';
import { resolveModelSource } from '../config/models.js';
import { CHANNEL_ORDERS, INPUT_LAYOUTS, MODEL_FORMATS, OUTPUT_MODES, RESIZE_METHODS, SCALE_NAME_BY_MODE, SCALE_MODES } from '../config/schema.js';
import type { ImageLimits, ModelConfig } from '../config/types.js';
import { detectFormat, type ConvertedModel } from '../formats/index.js';
import { decodeImage } from '../runtime/image.js';
import { LoadedModel } from '../runtime/loaded-model.js';
import { rankClasses } from '../runtime/postprocess.js';
import { openSession } from '../runtime/session.js';
import { createSource, defaultSourceSettings, type FetchedFile } from '../sources/index.js';
import { silentLogger } from '../shared/logger.js';
import { buildModelConfig, parseInputSize, parseLabelList, parseMean, parseStd, resolveFormat, type ModelBase, type ModelFlags, type ResolvedModelConfig } from './inspect-config.js';
import { renderInspectText, type InspectPrediction, type InspectReport, type ResolvedPreprocessing } from './inspect-report.js';
import { checkHttpUrl, collect, parseThreads } from './options.js';

interface InspectFlags extends ModelFlags {
  image?: string;
  json?: boolean;
  config: string[];
  model?: string;
  cacheDir?: string;
  driveUrl?: string;
  threads: number;
}

export function registerInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('Load a model file the way an engine does and print its format, shapes, layers, preprocessing and labels; with --image, classify a photo')
    .argument('[file]', 'model file (.h5 or .onnx), URL or Google Drive id; optional with --config and --model, which name the entry\'s file')
    .option('--image <photo>', 'classify this photo and print the class probabilities, most likely first')
    .option('--json', 'print one JSON object instead of the text report')
    .addOption(new Option('--format <format>', 'model file format').choices(MODEL_FORMATS))
    .option('--input-size <size>', 'input size in pixels, H or HxW such as 224 or 224x192 (default: the model\'s input shape)', parseInputSize)
    .addOption(new Option('--resize <method>', `resize method (default: ${CONFIG_DEFAULTS.model.resize})`).choices(RESIZE_METHODS))
    .addOption(new Option('--scale <scale>', 'pixel scaling (default: none when the model rescales in its graph, else 1/255)').choices(Object.keys(SCALE_MODES)))
    .option('--mean <r,g,b>', 'per-channel mean in 0..1 units, with --scale mean_std', parseMean)
    .option('--std <r,g,b>', 'per-channel standard deviation in 0..1 units, with --scale mean_std', parseStd)
    .addOption(new Option('--channel-order <order>', `channel order of the input (default: ${CONFIG_DEFAULTS.model.channelOrder})`).choices(CHANNEL_ORDERS))
    .addOption(new Option('--layout <layout>', 'input tensor layout (default: auto, from the model\'s input shape)').choices(INPUT_LAYOUTS))
    .addOption(new Option('--output <mode>', 'how outputs become probabilities (default: auto)').choices(OUTPUT_MODES))
    .option('--labels <a,b,c>', 'labels in output order, comma-separated', parseLabelList)
    .option('--labels-file <path>', 'text file with one label per line, in output order')
    .option('-c, --config <path>', 'cluster TOML file or folder (repeatable); with --model, start from that model\'s entry', collect, [])
    .option('--model <id>', 'model id in the config: basic, or second-N for [Second.N]')
    .option('--cache-dir <path>', 'folder for downloads and converted Keras graphs (default: a temporary folder, removed afterwards)')
    .option('--drive-url <url>', 'base URL of the Google Drive download endpoint, as for engines')
    .option('--threads <count>', 'ONNX Runtime threads per inference; 0 picks one per core', parseThreads, 0)
    .action(async (file: string | undefined, flags: InspectFlags) => runInspect(file, flags));
}

async function runInspect(file: string | undefined, flags: InspectFlags): Promise<void> {
  const entry = findConfigEntry(flags);
  const base = resolveBase(file, entry?.model ?? null);
  const limits = entry?.limits ?? CONFIG_DEFAULTS.limits;
  const cacheDir = flags.cacheDir === undefined ? await mkdtemp(join(tmpdir(), 'cascade-inspect-')) : resolve(flags.cacheDir);
  try {
    const report = await inspectModel(base, flags, { cacheDir, limits });
    process.stdout.write(flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : renderInspectText(report));
  } finally {
    if (flags.cacheDir === undefined) await rm(cacheDir, { recursive: true, force: true });
  }
}

/** Loads the cluster config and returns the entry of `--model`, or null without `--config`. */
function findConfigEntry(flags: InspectFlags): { model: ModelConfig; limits: ImageLimits } | null {
  if (flags.config.length === 0) {
    if (flags.model !== undefined) throw new InvalidArgumentError(`--model ${flags.model} needs --config with the cluster configuration, such as --config examples/local.`);
    return null;
  }
  if (flags.model === undefined) throw new InvalidArgumentError('--config needs --model with the id of the model to inspect: basic, or second-N for [Second.N].');
  const cluster = loadClusterConfig(flags.config);
  const models = [cluster.basic, ...cluster.second];
  const model = models.find((candidate) => candidate.id === flags.model);
  if (model === undefined) {
    throw new InvalidArgumentError(`--model ${flags.model} was not found in ${cluster.sourceFiles.join(', ')}; the models there are ${models.map((candidate) => candidate.id).join(', ')}.`);
  }
  return { model, limits: cluster.limits };
}

/** Resolves the model source: the file argument wins over the entry's `model`, and a relative path resolves against the working directory. */
function resolveBase(file: string | undefined, entry: ModelConfig | null): ModelBase {
  if (file === undefined && entry === null) {
    throw new InvalidArgumentError('The model file argument is missing; pass a model file, such as cascade inspect model.h5, or --config and --model.');
  }
  const source = file === undefined ? entry?.source ?? '' : resolveModelSource(file, process.cwd());
  // The entry's checksum belongs to the entry's file, not to a file given on the command line.
  const sha256 = entry !== null && entry.source === source ? entry.sha256 : null;
  return { id: entry?.id ?? basename(source), source, sha256, entry };
}

interface InspectContext {
  cacheDir: string;
  limits: ImageLimits;
}

/**
 * Runs the steps of `loadModel` one by one, because the preprocessing defaults depend on
 * the converted model's hints, and the report needs the conversion result that
 * `loadModel` does not return.
 */
async function inspectModel(base: ModelBase, flags: InspectFlags, context: InspectContext): Promise<InspectReport> {
  const timer = stopwatch();
  const driveBaseUrl = flags.driveUrl === undefined ? {} : { driveBaseUrl: checkHttpUrl('--drive-url', flags.driveUrl) };
  const sources = { ...defaultSourceSettings(context.cacheDir), progress: process.stderr.isTTY === true, ...driveBaseUrl };
  const fetched = await createSource(base.source, sources).fetch({ ref: base.source, sha256: base.sha256, logger: silentLogger() });
  const fetchMs = timer.lap();

  const format = await detectFormat(fetched.path, resolveFormat(flags, base.entry), { cacheDir: context.cacheDir });
  const converted = await format.convert(fetched.path);
  const convertMs = timer.lap();
  const resolved = buildModelConfig(base, flags, converted.hints);

  const session = await openSession(resolved.config.id, converted.onnx, { intraOpThreads: flags.threads, host: 'inline' });
  const sessionMs = timer.lap();
  let model: LoadedModel;
  try {
    model = new LoadedModel(resolved.config, session, converted, fetched.sha256);
  } catch (error) {
    await session.close();
    throw error;
  }

  try {
    await model.warmUp();
    const warmUpMs = timer.lap();
    const prediction = flags.image === undefined ? null : await classifyPhoto(model, flags.image, context.limits);
    const classifyMs = prediction === null ? null : timer.lap();
    const timingsMs = { fetch: fetchMs, convert: convertMs, session: sessionMs, warmUp: warmUpMs, classify: classifyMs };
    return { ...describeModel(base, fetched, format.name, converted), preprocessing: describePreprocessing(resolved, model, converted), labels: model.descriptor.labels, notes: resolved.notes, timingsMs, prediction };
  } finally {
    await model.close();
  }
}

/** Decodes the photo with the server's image limits and classifies it with the model's preprocessing. */
async function classifyPhoto(model: LoadedModel, imagePath: string, limits: ImageLimits): Promise<InspectPrediction> {
  let bytes: Buffer;
  try {
    bytes = await readFile(imagePath);
  } catch (error) {
    throw new InvalidArgumentError(`--image ${imagePath} cannot be read (${error instanceof Error ? error.message : String(error)}); give the path of a JPEG, PNG or WebP photo.`);
  }
  const image = await decodeImage(bytes, limits);
  const probabilities = await model.classify(image);
  return { image: imagePath, width: image.width, height: image.height, classes: rankClasses(probabilities, model.descriptor.labels) };
}

type ModelFacts = Pick<InspectReport, 'file' | 'path' | 'format' | 'description' | 'sha256' | 'sizeBytes' | 'inputShape' | 'outputShape' | 'layout' | 'hints' | 'layers'>;

function describeModel(base: ModelBase, fetched: FetchedFile, format: 'onnx' | 'keras', converted: ConvertedModel): ModelFacts {
  return {
    file: base.source,
    path: fetched.path,
    format,
    description: converted.description,
    sha256: fetched.sha256,
    sizeBytes: fetched.sizeBytes,
    inputShape: converted.inputShape,
    outputShape: converted.outputShape,
    layout: converted.layout,
    hints: converted.hints,
    layers: converted.layers,
  };
}

function describePreprocessing(resolved: ResolvedModelConfig, model: LoadedModel, converted: ConvertedModel): ResolvedPreprocessing {
  const { preprocessing, output } = resolved.config;
  const standardize = preprocessing.scaling.mode === 'standardize';
  return {
    inputHeight: model.descriptor.inputHeight,
    inputWidth: model.descriptor.inputWidth,
    resize: preprocessing.resize,
    scale: SCALE_NAME_BY_MODE[preprocessing.scaling.mode],
    mean: standardize ? preprocessing.scaling.mean : null,
    std: standardize ? preprocessing.scaling.std : null,
    channelOrder: preprocessing.channelOrder,
    // LoadedModel resolves `auto` the same way: the layout read from the model file.
    layout: preprocessing.layout === 'auto' ? converted.layout : preprocessing.layout,
    output,
    from: resolved.origins,
  };
}

/** Measures the milliseconds between successive `lap()` calls, rounded to 0.01 ms. */
function stopwatch(): { lap: () => number } {
  let last = performance.now();
  return {
    lap: () => {
      const now = performance.now();
      const elapsed = now - last;
      last = now;
      return Math.round(elapsed * 100) / 100;
    },
  };
}
