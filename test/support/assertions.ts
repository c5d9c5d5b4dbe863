/** Assertions shared by several test files. */
import assert from 'node:assert/strict';
import { CascadeError } from '../../src/shared/errors.js';

/** Asserts that `promise` rejects with a CascadeError of `code` and returns it for more checks. */
export async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<CascadeError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof CascadeError, `expected a CascadeError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected a rejection with ${code}`);
}
