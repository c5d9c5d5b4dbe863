/**
 * Builds the demonstration ONNX models of the example cluster. The output is committed,
 * so `npm start` needs no build step; run `npm run build:examples` to rebuild it. The
 * weights come from a fixed seed, so the files are the same on every run.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSmallCnn } from './lib/synthetic-models.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const target = join(root, 'examples', 'models', 'demo', 'bcc-subtypes-demo.onnx');

const model = buildSmallCnn(3, 20261204);
mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, model.onnx);
process.stdout.write(`wrote ${target} (${model.parameters} parameters, ${model.onnx.length} bytes)\n`);
