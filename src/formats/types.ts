/**
 * A model format turns a model file into an ONNX graph that ONNX Runtime can load.
 * ONNX files pass through; Keras HDF5 files are converted at load time.
 */

/** Record of how the converter handled one layer of the source model, for `cascade inspect`. */
export interface LayerReport {
  name: string;
  className: string;
  /** Description of the emitted ONNX nodes, for example "Conv (pads from 'same')". */
  handling: string;
  outputShape: (number | null)[];
}

/** Preprocessing facts read from the model file itself. */
export interface ModelHints {
  /** Input height and width when the model fixes them. */
  height: number | null;
  width: number | null;
  /** The graph rescales pixels itself (a Keras Rescaling layer right after the input). */
  rescalesInGraph: boolean;
  /** The graph resizes images itself (a Keras Resizing layer). */
  resizesInGraph: boolean;
}

export interface ConvertedModel {
  /** Serialized ONNX ModelProto. */
  onnx: Uint8Array;
  /** Input shape with null for free dimensions, in the graph's layout. */
  inputShape: (number | null)[];
  outputShape: (number | null)[];
  layout: 'nhwc' | 'nchw';
  hints: ModelHints;
  layers: LayerReport[];
  /** Format-specific description such as "Keras 2.12.0, Sequential". */
  description: string;
}

export interface ModelFormat {
  readonly name: 'onnx' | 'keras';
  /** Whether the first bytes of a file belong to this format. */
  matches(head: Uint8Array): boolean;
  /** Reads and converts the file; throws CascadeError MODEL_* codes with the reason. */
  convert(path: string): Promise<ConvertedModel>;
}
