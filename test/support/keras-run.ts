/** Converts test Keras files and runs them in ONNX Runtime, for comparisons with the reference ops. */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertKerasFile } from '../../src/formats/keras/convert.js';
import type { ConvertedModel } from '../../src/formats/types.js';
import { openSession } from '../../src/runtime/session.js';
import { writeKerasModel, type KerasStyle, type ModelDef } from './keras-h5.js';
import type { Tensor } from './reference-ops.js';

/** Creates a temporary folder for one test file's models; call `remove()` in `after`. */
export async function temporaryFolder(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `cascade-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Runs a converted model on one input tensor (NHWC, as Keras takes it). */
export async function runConverted(converted: ConvertedModel, input: Tensor): Promise<Tensor> {
  const session = await openSession('keras-test', converted.onnx, { intraOpThreads: 1 });
  try {
    const output = await session.run(Float32Array.from(input.data), input.shape);
    return { shape: output.dims, data: Float64Array.from(output.data) };
  } finally {
    await session.close();
  }
}

let fileCounter = 0;

/** Writes `model` in `style` under `folder`, converts it, runs it on `input`. */
export async function convertAndRun(folder: string, model: ModelDef, style: KerasStyle, input: Tensor): Promise<{ output: Tensor; converted: ConvertedModel; file: string }> {
  fileCounter += 1;
  const file = join(folder, `${model.name}-${style}-${fileCounter}.h5`);
  await writeKerasModel(file, model, { style });
  const converted = await convertKerasFile(file);
  const output = await runConverted(converted, input);
  return { output, converted, file };
}

/** Asserts equal shapes and every value within `tolerance` (absolute, or relative for values above 1). */
export function assertClose(actual: Tensor, expected: Tensor, tolerance = 1e-4): void {
  assert.deepEqual(actual.shape, expected.shape, 'output shape');
  let worst = 0;
  let worstIndex = -1;
  expected.data.forEach((value, index) => {
    const difference = Math.abs((actual.data[index] ?? Number.NaN) - value) / Math.max(1, Math.abs(value));
    assert.ok(!Number.isNaN(difference), `value ${index} is ${actual.data[index]}, expected ${value}`);
    if (difference > worst) {
      worst = difference;
      worstIndex = index;
    }
  });
  assert.ok(worst <= tolerance, `value ${worstIndex} is ${actual.data[worstIndex]}, expected ${expected.data[worstIndex]} (difference ${worst} > ${tolerance})`);
}
