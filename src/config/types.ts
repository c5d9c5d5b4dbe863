/**
 * The validated cluster configuration. The loader turns the users' TOML (servers and
 * models, as two files or one) into this shape once, at start. Every other module
 * takes these objects and never reads TOML, flags or `process.env` itself.
 */

/** Resize filter used to bring an image to the model's input size. */
export type ResizeMethod = 'nearest' | 'bilinear' | 'bicubic' | 'lanczos3';

/**
 * Mapping of 0..255 pixel values to model inputs:
 * - `auto`: `none` when the model rescales in its graph (a Keras Rescaling layer right
 *   after the input), else `unit`,
 * - `none`: raw 0..255 (the model rescales itself),
 * - `unit`: x / 255, into [0, 1],
 * - `symmetric`: x / 127.5 - 1, into [-1, 1],
 * - `standardize`: (x / 255 - mean[c]) / std[c], per channel.
 */
export type ScalingMode = 'auto' | 'none' | 'unit' | 'symmetric' | 'standardize';

export interface Scaling {
  mode: ScalingMode;
  /** Per-channel mean and std in channel order, used only by `standardize`. */
  mean: [number, number, number];
  std: [number, number, number];
}

export type ChannelOrder = 'rgb' | 'bgr';

/** Tensor layout of the model input; `auto` takes it from the model's input shape. */
export type InputLayout = 'auto' | 'nhwc' | 'nchw';

/** Model file format; `auto` detects it from the file's first bytes. */
export type ModelFormatName = 'auto' | 'onnx' | 'keras';

/**
 * Conversion of raw model outputs into probabilities:
 * - `auto`: kept when they already form a distribution, else softmax,
 * - `probabilities`: kept as they are,
 * - `softmax`: softmax over the outputs,
 * - `sigmoid`: one sigmoid output p becomes [1 - p, p].
 */
export type OutputMode = 'auto' | 'probabilities' | 'softmax' | 'sigmoid';

export interface Preprocessing {
  /** Target width and height in pixels; null means "take it from the model's input shape". */
  width: number | null;
  height: number | null;
  resize: ResizeMethod;
  scaling: Scaling;
  channelOrder: ChannelOrder;
  layout: InputLayout;
}

export interface ServerConfig {
  /** Index N of `[Servers.N]`; models refer to it through `parent`. */
  index: number;
  /** Address users wrote as `ipv4`; the engine's reported address replaces it at run time. */
  ipv4: string;
  /** Port the server's engine listens on. */
  port: number;
  name: string;
}

export type ModelTier = 'basic' | 'second';

export interface ModelConfig {
  /** Stable model id: `basic` or `second-N` where N is the `[Second.N]` key. */
  id: string;
  tier: ModelTier;
  /** Server indexes that hold a replica of this model (`parent`, a number or a list). */
  parents: number[];
  /** Google Drive file id, http(s) URL or local path, as written in the file. */
  source: string;
  /** Expected sha256 of the model file, lowercase hex, when given. */
  sha256: string | null;
  format: ModelFormatName;
  /**
   * For a second model: the basic model's output index it serves. Taken from the
   * `category` key (an index, or a name looked up in the basic model's labels) or,
   * without it, from the `[Second.N]` key N.
   */
  category: number | null;
  /** Category as the user wrote it, when it was a name; kept for messages and export. */
  categoryName: string | null;
  /** Output labels in output index order; null means `class_0`, `class_1`, ... */
  labels: string[] | null;
  preprocessing: Preprocessing;
  output: OutputMode;
}

export interface ImageLimits {
  /** Largest accepted request body in bytes. */
  maxBodyBytes: number;
  /** Largest accepted width x height, checked from the header before decoding. */
  maxPixels: number;
  /** Smallest accepted width and height in pixels. */
  minWidth: number;
  minHeight: number;
}

export interface CoordinatorConfig {
  /** Address and port of the public API. */
  host: string;
  port: number;
  /** Folder of the SQLite state database and the model cache. */
  dataDir: string;
}

export interface TimingConfig {
  /** How often engines report to the coordinator. */
  heartbeatIntervalMs: number;
  /** An engine silent for longer than this is marked down. */
  engineDownAfterMs: number;
  /** Per-call timeout of coordinator-to-engine inference calls. */
  inferenceTimeoutMs: number;
  /** A model load (fetch, convert, warm-up) that takes longer is marked failed. */
  loadTimeoutMs: number;
}

export interface ClusterConfig {
  servers: ServerConfig[];
  basic: ModelConfig;
  second: ModelConfig[];
  coordinator: CoordinatorConfig;
  limits: ImageLimits;
  timing: TimingConfig;
  /** Files the configuration was read from, for messages and export. */
  sourceFiles: string[];
}
