import { join } from 'node:path';
import { EXAMPLE_MODELS } from './cluster.js';

export const BEST_MODEL = join(EXAMPLE_MODELS, 'ham10000-cnn', 'best_model.h5');
export const SKIN_MODEL = join(EXAMPLE_MODELS, 'ham10000-cnn', 'skin.h5');
export const CATEGORIES_FILE = join(EXAMPLE_MODELS, 'ham10000-cnn', 'categories.txt');
export const DEMO_ONNX = join(EXAMPLE_MODELS, 'demo', 'bcc-subtypes-demo.onnx');

/** HAM10000 folder names to the category names of the example basic model. */
export const CATEGORY_OF_FOLDER: Record<string, string> = {
  akiec: 'Actinic keratoses and intraepithelial carcinoma',
  bcc: 'Basal cell carcinoma',
  bkl: 'Benign keratosis-like lesions',
  df: 'Dermatofibroma',
  nv: 'Melanocytic nevi',
  vasc: 'Vascular lesions',
  mel: 'Melanoma',
};

export const DEMO_LABELS = ['nodular basal cell carcinoma', 'superficial basal cell carcinoma', 'pigmented basal cell carcinoma'];

/** `parent` of each example model, as TOML: a server index or a list of them. */
export interface ExampleParents {
  basic: string;
  melanoma: string;
  basalCell: string;
}

/**
 * The example cascade with absolute paths: the real HAM10000 model as the basic model
 * on server 0, and on server 1 a second real model for Melanoma and the demonstration
 * ONNX model for Basal cell carcinoma.
 */
export function exampleModelsToml(extra = '', parents: ExampleParents = { basic: '0', melanoma: '1', basalCell: '1' }): string {
  return `[Basic]
parent = ${parents.basic}
model = '${BEST_MODEL}'
labels_file = '${CATEGORIES_FILE}'
input_size = 28
resize = "nearest"

[Second]
[Second.6]
parent = ${parents.melanoma}
model = '${SKIN_MODEL}'
labels_file = '${CATEGORIES_FILE}'
input_size = 28
resize = "nearest"

[Second.1]
parent = ${parents.basalCell}
category = "Basal cell carcinoma"
model = '${DEMO_ONNX}'
labels = ${JSON.stringify(DEMO_LABELS)}
${extra}`;
}
