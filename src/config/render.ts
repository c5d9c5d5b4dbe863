/**
 * Writes configuration back to TOML that loadClusterConfig reads again: the users' table
 * and key names, `[Servers] number = ...`, and only the keys whose values differ from
 * the defaults, so an exported file stays close to what users write by hand.
 */

import path from 'node:path';
import { stringify } from 'smol-toml';

import { CascadeError } from '../shared/errors.js';
import { CONFIG_DEFAULTS, defaultServerName, defaultServerPort } from './defaults.js';
import { SCALE_NAME_BY_MODE } from './schema.js';
import type { ClusterConfig, ModelConfig, ServerConfig } from './types.js';

type TomlFields = Record<string, unknown>;

/** Renders `[Servers]` with `number` and one `[Servers.N]` table per server. */
export function renderServersToml(servers: readonly ServerConfig[]): string {
  const section: TomlFields = { number: servers.length };
  for (const server of [...servers].sort((a, b) => a.index - b.index)) {
    const table: TomlFields = { ipv4: server.ipv4 };
    if (server.port !== defaultServerPort(server.index)) table.port = server.port;
    if (server.name !== defaultServerName(server.index)) table.name = server.name;
    section[String(server.index)] = table;
  }
  return stringify({ Servers: section });
}

export interface RenderModelsOptions {
  /** Directory the default `data_dir` resolves against; defaults to `process.cwd()`. */
  cwd?: string;
}

/**
 * Renders `[Basic]`, `[Second.N]` and, where they differ from the defaults,
 * `[Coordinator]`, `[Limits]` and `[Timing]`. Local model paths are written absolute,
 * and labels are written inline even when they came from a labels file.
 */
export function renderModelsToml(config: ClusterConfig, options: RenderModelsOptions = {}): string {
  const second: TomlFields = {};
  for (const model of config.second) {
    const index = secondTableIndex(model);
    second[String(index)] = renderModel(model, index);
  }
  const document: TomlFields = { Basic: renderModel(config.basic, null), Second: second };
  const settings = renderSettings(config, options.cwd ?? process.cwd());
  return stringify({ ...document, ...settings });
}

function secondTableIndex(model: ModelConfig): number {
  const match = /^second-(0|[1-9][0-9]*)$/.exec(model.id);
  if (match?.[1] === undefined) {
    throw new CascadeError('INTERNAL', `Second model id ${JSON.stringify(model.id)} does not have the form second-N, so it has no [Second.N] table to render.`);
  }
  return Number(match[1]);
}

/** `tableIndex` is N of `[Second.N]`, or null for the basic model. */
function renderModel(model: ModelConfig, tableIndex: number | null): TomlFields {
  const defaults = CONFIG_DEFAULTS.model;
  const table: TomlFields = {
    parent: model.parents.length === 1 ? model.parents[0] : [...model.parents],
    model: model.source,
  };
  if (tableIndex !== null) {
    if (model.categoryName !== null) table.category = model.categoryName;
    else if (model.category !== null && model.category !== tableIndex) table.category = model.category;
  }
  if (model.sha256 !== null) table.sha256 = model.sha256;
  if (model.format !== defaults.format) table.format = model.format;
  if (model.labels !== null) table.labels = [...model.labels];
  Object.assign(table, renderPreprocessing(model));
  if (model.output !== defaults.output) table.output = model.output;
  return table;
}

function renderPreprocessing(model: ModelConfig): TomlFields {
  const defaults = CONFIG_DEFAULTS.model;
  const { width, height, resize, scaling, channelOrder, layout } = model.preprocessing;
  const table: TomlFields = {};
  if (width !== null && height !== null) table.input_size = width === height ? width : [height, width];
  if (resize !== defaults.resize) table.resize = resize;

  const scale = SCALE_NAME_BY_MODE[scaling.mode];
  if (scale !== defaults.scale) table.scale = scale;
  if (scaling.mode === 'standardize') {
    table.mean = [...scaling.mean];
    table.std = [...scaling.std];
  }
  if (channelOrder !== defaults.channelOrder) table.channel_order = channelOrder;
  if (layout !== defaults.layout) table.layout = layout;
  return table;
}

function renderSettings(config: ClusterConfig, cwd: string): TomlFields {
  const defaults = CONFIG_DEFAULTS;
  const coordinator = pickChanged({
    host: [config.coordinator.host, defaults.coordinator.host],
    port: [config.coordinator.port, defaults.coordinator.port],
    data_dir: [config.coordinator.dataDir, path.resolve(cwd, defaults.coordinator.dataDir)],
  });
  const limits = pickChanged({
    max_body_bytes: [config.limits.maxBodyBytes, defaults.limits.maxBodyBytes],
    max_pixels: [config.limits.maxPixels, defaults.limits.maxPixels],
    min_width: [config.limits.minWidth, defaults.limits.minWidth],
    min_height: [config.limits.minHeight, defaults.limits.minHeight],
  });
  const timing = pickChanged({
    heartbeat_interval_ms: [config.timing.heartbeatIntervalMs, defaults.timing.heartbeatIntervalMs],
    engine_down_after_ms: [config.timing.engineDownAfterMs, defaults.timing.engineDownAfterMs],
    inference_timeout_ms: [config.timing.inferenceTimeoutMs, defaults.timing.inferenceTimeoutMs],
    load_timeout_ms: [config.timing.loadTimeoutMs, defaults.timing.loadTimeoutMs],
  });

  const tables: TomlFields = {};
  if (coordinator !== null) tables.Coordinator = coordinator;
  if (limits !== null) tables.Limits = limits;
  if (timing !== null) tables.Timing = timing;
  return tables;
}

/** Keeps the keys whose value differs from its default; null when none does. */
function pickChanged(pairs: Record<string, [string | number, string | number]>): TomlFields | null {
  const changed = Object.entries(pairs).filter(([, [value, fallback]]) => value !== fallback);
  return changed.length === 0 ? null : Object.fromEntries(changed.map(([key, [value]]) => [key, value]));
}
