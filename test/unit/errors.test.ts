import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CascadeError, ERROR_CATALOGUE } from '../../src/shared/errors.js';
import { REPO_ROOT } from '../support/processes.js';

describe('error catalogue', () => {
  it('lists every code in docs/errors.md', () => {
    const page = readFileSync(join(REPO_ROOT, 'docs', 'errors.md'), 'utf8');
    for (const code of Object.keys(ERROR_CATALOGUE)) {
      assert.ok(page.includes(`\`${code}\``), `docs/errors.md does not list ${code}`);
    }
  });

  it('serializes code, message, request id and details', () => {
    const error = new CascadeError('IMAGE_TOO_SMALL', 'too small', { width: 1 });
    assert.equal(error.statusCode, 422);
    assert.deepEqual(error.toJSON('req-1'), { code: 'IMAGE_TOO_SMALL', message: 'too small', requestId: 'req-1', details: { width: 1 } });
  });
});
