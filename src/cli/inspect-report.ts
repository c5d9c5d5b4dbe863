/** The result of `cascade inspect`, and its rendering as a readable text report. */
import type { ChannelOrder, InputLayout, OutputMode, ResizeMethod } from '../config/types.js';
import type { ScaleName } from '../config/schema.js';
import type { LayerReport, ModelHints } from '../formats/types.js';
import type { RankedClass } from '../runtime/postprocess.js';
import type { SettingOrigin, SettingOrigins } from './inspect-config.js';

export interface ResolvedPreprocessing {
  /** Input size in pixels; null when the model takes any size. */
  inputHeight: number | null;
  inputWidth: number | null;
  resize: ResizeMethod;
  scale: ScaleName;
  /** Per-channel mean and std in 0..1 units; null unless the scale is mean_std. */
  mean: [number, number, number] | null;
  std: [number, number, number] | null;
  channelOrder: ChannelOrder;
  /** Layout of the tensor fed to the model, `auto` already resolved. */
  layout: Exclude<InputLayout, 'auto'>;
  output: OutputMode;
  from: SettingOrigins;
}

export interface InspectPrediction {
  image: string;
  /** Size of the decoded photo, before the resize to the input size. */
  width: number;
  height: number;
  /** Every class, most likely first; the probabilities sum to 1. */
  classes: RankedClass[];
}

/** Everything `cascade inspect` found; `--json` prints this object as it is. */
export interface InspectReport {
  /** The model source as given: a path, URL or Google Drive id. */
  file: string;
  /** The local file that was loaded (the cached download for remote sources). */
  path: string;
  format: 'onnx' | 'keras';
  description: string;
  sha256: string;
  sizeBytes: number;
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  /** Layout of the model's input, as read from the file. */
  layout: 'nhwc' | 'nchw';
  hints: ModelHints;
  layers: LayerReport[];
  preprocessing: ResolvedPreprocessing;
  labels: string[];
  notes: string[];
  timingsMs: { fetch: number; convert: number; session: number; warmUp: number; classify: number | null };
  prediction: InspectPrediction | null;
}

const ORIGIN_TEXT: Record<SettingOrigin, string> = {
  flag: 'from a flag',
  config: 'from the config entry',
  model: 'from the model',
  default: 'default',
};

/** Renders the report as aligned text sections for a terminal. */
export function renderInspectText(report: InspectReport): string {
  const sections = [
    renderSummary(report),
    renderLayers(report.layers),
    renderPreprocessing(report.preprocessing),
    renderLabels(report.labels, report.preprocessing.from.labels),
  ];
  if (report.notes.length > 0) sections.push(['notes', ...report.notes.map((note) => `  - ${note}`)].join('\n'));
  if (report.prediction !== null) sections.push(renderPrediction(report.prediction));
  return `${sections.join('\n\n')}\n`;
}

function renderSummary(report: InspectReport): string {
  const { hints, timingsMs } = report;
  const yesNo = (value: boolean): string => (value ? 'yes' : 'no');
  return table([
    ['file', report.path === report.file ? report.file : `${report.file} (loaded from ${report.path})`],
    ['format', `${report.format}: ${report.description}`],
    ['sha256', report.sha256],
    ['size', `${report.sizeBytes} bytes`],
    ['input', `${formatShape(report.inputShape)} ${report.layout.toUpperCase()}`],
    ['output', formatShape(report.outputShape)],
    ['in the graph', `rescales pixels: ${yesNo(hints.rescalesInGraph)}, resizes images: ${yesNo(hints.resizesInGraph)}`],
    ['load time', `fetch ${formatMs(timingsMs.fetch)}, convert ${formatMs(timingsMs.convert)}, session ${formatMs(timingsMs.session)}, warm-up ${formatMs(timingsMs.warmUp)}`],
  ]);
}

function renderLayers(layers: LayerReport[]): string {
  // ONNX files list no shape for intermediate values unless shape inference was saved in them.
  const rows = layers.map((layer) => [layer.name, layer.className, layer.outputShape.length === 0 ? 'unknown' : formatShape(layer.outputShape), layer.handling]);
  return [`layers (${layers.length})`, indent(table([['name', 'class', 'output shape', 'handled as'], ...rows]))].join('\n');
}

function renderPreprocessing(preprocessing: ResolvedPreprocessing): string {
  const { from } = preprocessing;
  const size = preprocessing.inputHeight === null || preprocessing.inputWidth === null
    ? 'any (the model resizes images itself)'
    : `${preprocessing.inputHeight}x${preprocessing.inputWidth}`;
  const scale = preprocessing.scale === 'mean_std'
    ? `mean_std, mean ${preprocessing.mean?.join(',') ?? '?'}, std ${preprocessing.std?.join(',') ?? '?'}`
    : preprocessing.scale;
  const rows = [
    ['input size (HxW)', size, from.inputSize],
    ['resize', preprocessing.resize, from.resize],
    ['scale', scale, from.scale],
    ['channel order', preprocessing.channelOrder, from.channelOrder],
    ['layout', preprocessing.layout, from.layout],
    ['output', preprocessing.output, from.output],
  ] as const;
  return ['preprocessing', indent(table(rows.map(([name, value, origin]) => [name, `${value} (${ORIGIN_TEXT[origin]})`])))].join('\n');
}

function renderLabels(labels: string[], origin: SettingOrigin): string {
  const rows = labels.map((label, index) => [String(index), label]);
  return [`labels (${labels.length}, ${ORIGIN_TEXT[origin]})`, indent(table(rows))].join('\n');
}

function renderPrediction(prediction: InspectPrediction): string {
  const rows = prediction.classes.map((entry) => [entry.probability.toFixed(6), entry.label, `class ${entry.index}`]);
  return [`prediction for ${prediction.image} (${prediction.width}x${prediction.height} pixels), most likely first`, indent(table(rows))].join('\n');
}

/** Pads every column but the last to its widest cell. */
function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, column) => (widths[column] = Math.max(widths[column] ?? 0, cell.length)));
  return rows
    .map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  '))
    .join('\n');
}

function indent(text: string): string {
  return text.split('\n').map((line) => `  ${line}`).join('\n');
}

function formatShape(shape: (number | null)[]): string {
  return `[${shape.map((dim) => (dim === null ? '?' : String(dim))).join(', ')}]`;
}

function formatMs(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}
