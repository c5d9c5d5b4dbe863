/**
 * Defaults of every optional configuration key, in one table. The loader fills absent
 * keys from here and the renderer leaves out values equal to these, so both agree.
 */

import type {
  ChannelOrder,
  CoordinatorConfig,
  ImageLimits,
  InputLayout,
  ModelFormatName,
  OutputMode,
  ResizeMethod,
  TimingConfig,
} from './types.js';
import type { ScaleName } from './schema.js';

/** A `[Servers.N]` table without `port` gets this port plus N. */
export const DEFAULT_ENGINE_BASE_PORT = 7100;

export interface ModelDefaults {
  format: ModelFormatName;
  resize: ResizeMethod;
  /** Scale name as users write it (`scale = "1/255"`). */
  scale: ScaleName;
  channelOrder: ChannelOrder;
  layout: InputLayout;
  output: OutputMode;
}

export interface ConfigDefaults {
  model: ModelDefaults;
  coordinator: CoordinatorConfig;
  limits: ImageLimits;
  timing: TimingConfig;
}

export const CONFIG_DEFAULTS: ConfigDefaults = {
  model: {
    format: 'auto',
    resize: 'bilinear',
    // Decided per model when it loads: 'none' for a graph that rescales itself, else 1/255.
    scale: 'auto',
    channelOrder: 'rgb',
    layout: 'auto',
    output: 'auto',
  },
  coordinator: {
    host: '127.0.0.1',
    port: 8080,
    // Relative to the working directory of the process that loads the configuration.
    dataDir: '.cascade',
  },
  limits: {
    maxBodyBytes: 10 * 1024 * 1024,
    maxPixels: 50_000_000,
    minWidth: 16,
    minHeight: 16,
  },
  timing: {
    heartbeatIntervalMs: 1000,
    engineDownAfterMs: 5000,
    inferenceTimeoutMs: 10_000,
    loadTimeoutMs: 300_000,
  },
};

export function defaultServerPort(index: number): number {
  return DEFAULT_ENGINE_BASE_PORT + index;
}

export function defaultServerName(index: number): string {
  return `server-${index}`;
}
