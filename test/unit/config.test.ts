import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { indexKeyLines } from '../../src/config/lines.js';
import { loadClusterConfig, type LoadOptions } from '../../src/config/load.js';
import { renderModelsToml, renderServersToml } from '../../src/config/render.js';
import type { ClusterConfig } from '../../src/config/types.js';
import { CascadeError } from '../../src/shared/errors.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const fixture = (...parts: string[]): string => path.join(FIXTURES, ...parts);
const SEED_SERVERS = fixture('seed', 'servers.toml');
const SEED_MODELS = fixture('seed', 'models.toml');

const scratch = mkdtempSync(path.join(tmpdir(), 'cascade-config-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function loadError(paths: string[], options?: LoadOptions): CascadeError {
  try {
    loadClusterConfig(paths, options);
  } catch (error) {
    assert.ok(error instanceof CascadeError, `expected a CascadeError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected loadClusterConfig to throw');
}

interface ExpectedIssue {
  file: string;
  line: number;
  key: string;
  includes: string[];
}

/** Finds the message line `<...file>:<line>: <key>: ...` and checks its text. */
function assertIssue(error: CascadeError, expected: ExpectedIssue): void {
  const prefix = `${expected.file}:${expected.line}: ${expected.key}: `;
  const line = error.message.split('\n').find((candidate) => candidate.includes(prefix));
  assert.ok(line !== undefined, `no line starting with "${prefix}" in:\n${error.message}`);
  for (const part of expected.includes) assert.ok(line.includes(part), `"${part}" missing from: ${line}`);
}

function problemLines(error: CascadeError): string[] {
  return error.message.split('\n').slice(1);
}

/** Copies the configuration without `sourceFiles`, to compare loads of different files. */
function withoutSources(config: ClusterConfig): Omit<ClusterConfig, 'sourceFiles'> {
  const { sourceFiles: _sourceFiles, ...rest } = config;
  return rest;
}

describe('seed files', () => {
  test('two files load with defaults', () => {
    const config = loadClusterConfig([SEED_SERVERS, SEED_MODELS], { cwd: scratch });

    assert.deepEqual(config.servers, [{ index: 0, ipv4: '41.44.5.83', port: 7100, name: 'server-0' }]);
    assert.equal(config.basic.id, 'basic');
    assert.equal(config.basic.tier, 'basic');
    assert.deepEqual(config.basic.parents, [0]);
    assert.equal(config.basic.source, '1-rfV85rTtGRMCi3ljUN0FgKnsiLjnPf5');
    assert.equal(config.basic.category, null);
    assert.equal(config.basic.labels, null);
    assert.equal(config.basic.format, 'auto');
    assert.equal(config.basic.output, 'auto');
    assert.deepEqual(config.basic.preprocessing, {
      width: null,
      height: null,
      resize: 'bilinear',
      scaling: { mode: 'auto', mean: [0, 0, 0], std: [1, 1, 1] },
      channelOrder: 'rgb',
      layout: 'auto',
    });

    assert.equal(config.second.length, 1);
    const second = config.second[0];
    assert.ok(second !== undefined);
    assert.equal(second.id, 'second-0');
    assert.equal(second.tier, 'second');
    assert.equal(second.source, '1ECwXvWlPmi7m5frvhGq5z2vfPhldAU8j');
    // The "#9" comment above `model` is ignored: the category is the table key.
    assert.equal(second.category, 0);
    assert.equal(second.categoryName, null);

    assert.deepEqual(config.coordinator, { host: '127.0.0.1', port: 8080, dataDir: path.join(scratch, '.cascade') });
    assert.deepEqual(config.limits, { maxBodyBytes: 10 * 1024 * 1024, maxPixels: 50_000_000, minWidth: 16, minHeight: 16 });
    assert.deepEqual(config.timing, { heartbeatIntervalMs: 1000, engineDownAfterMs: 5000, inferenceTimeoutMs: 10_000, loadTimeoutMs: 300_000 });
    assert.deepEqual(config.sourceFiles, [SEED_SERVERS, SEED_MODELS]);
  });

  test('one combined file loads the same', () => {
    const split = loadClusterConfig([SEED_SERVERS, SEED_MODELS], { cwd: scratch });
    const combined = loadClusterConfig([fixture('combined.toml')], { cwd: scratch });
    assert.deepEqual(withoutSources(combined), withoutSources(split));
    assert.deepEqual(combined.sourceFiles, [fixture('combined.toml')]);
  });

  test('directory loads every toml file', () => {
    const split = loadClusterConfig([SEED_SERVERS, SEED_MODELS], { cwd: scratch });
    const fromDirectory = loadClusterConfig([fixture('seed')], { cwd: scratch });
    assert.deepEqual(withoutSources(fromDirectory), withoutSources(split));
    // Name order: models.toml before servers.toml.
    assert.deepEqual(fromDirectory.sourceFiles, [SEED_MODELS, SEED_SERVERS]);
  });

  test('relative paths resolve against cwd', () => {
    const config = loadClusterConfig(['seed/servers.toml', 'seed/models.toml'], { cwd: FIXTURES });
    assert.deepEqual(config.sourceFiles, [SEED_SERVERS, SEED_MODELS]);
  });

  test('file named twice is read once', () => {
    const config = loadClusterConfig([fixture('seed'), SEED_MODELS], { cwd: scratch });
    assert.equal(config.sourceFiles.length, 2);
  });

  test('result is deeply frozen', () => {
    const config = loadClusterConfig([SEED_SERVERS, SEED_MODELS], { cwd: scratch });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.servers));
    assert.ok(Object.isFrozen(config.basic.preprocessing.scaling.mean));
    const server = config.servers[0];
    assert.ok(server !== undefined);
    assert.throws(() => {
      server.port = 1;
    }, TypeError);
  });
});

describe('optional keys', () => {
  const load = (): ClusterConfig => loadClusterConfig([fixture('full')], { cwd: scratch });

  test('servers take ports and names', () => {
    assert.deepEqual(load().servers, [
      { index: 0, ipv4: '10.0.0.10', port: 7100, name: 'server-0' },
      { index: 1, ipv4: '10.0.0.11', port: 7101, name: 'gpu-1' },
      { index: 2, ipv4: '10.0.0.12', port: 9000, name: 'server-2' },
    ]);
  });

  test('basic model takes every key', () => {
    const basic = load().basic;
    assert.deepEqual(basic.parents, [0, 1]);
    assert.equal(basic.source, fixture('full', 'models', 'basic.onnx'));
    assert.equal(basic.sha256, 'abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789');
    assert.equal(basic.format, 'onnx');
    assert.deepEqual(basic.labels, [
      'Acne and Rosacea Photos',
      'Actinic Keratosis Basal Cell Carcinoma and other Malignant Lesions',
      'Atopic Dermatitis Photos',
      'Bullous Disease Photos',
    ]);
    assert.deepEqual(basic.preprocessing, {
      width: 224,
      height: 224,
      resize: 'lanczos3',
      scaling: { mode: 'standardize', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
      channelOrder: 'bgr',
      layout: 'nchw',
    });
    assert.equal(basic.output, 'softmax');
  });

  test('second models resolve categories', () => {
    const [acne, atopic, actinic] = load().second;
    assert.ok(acne !== undefined);
    assert.ok(atopic !== undefined);
    assert.ok(actinic !== undefined);

    assert.equal(acne.id, 'second-0');
    assert.equal(acne.category, 0);
    assert.deepEqual(acne.labels, ['milia', 'Rosacea', 'Infantile acne']);

    assert.equal(atopic.id, 'second-2');
    assert.equal(atopic.category, 2);
    assert.equal(atopic.categoryName, 'Atopic Dermatitis Photos');
    assert.equal(atopic.source, 'https://models.example.com/atopic.h5');
    assert.equal(atopic.format, 'keras');
    assert.equal(atopic.preprocessing.height, 96);
    assert.equal(atopic.preprocessing.width, 128);
    assert.equal(atopic.preprocessing.resize, 'nearest');
    assert.equal(atopic.preprocessing.scaling.mode, 'none');

    assert.equal(actinic.id, 'second-7');
    assert.equal(actinic.category, 1);
    assert.equal(actinic.categoryName, null);
    assert.deepEqual(actinic.parents, [2, 0]);
    assert.equal(actinic.source, '/srv/models/actinic.onnx');
    assert.equal(actinic.preprocessing.scaling.mode, 'symmetric');
    assert.equal(actinic.output, 'sigmoid');
  });

  test('settings tables override defaults', () => {
    const config = load();
    assert.deepEqual(config.coordinator, { host: '0.0.0.0', port: 9090, dataDir: path.join(scratch, 'state') });
    assert.deepEqual(config.limits, { maxBodyBytes: 2_097_152, maxPixels: 4_000_000, minWidth: 32, minHeight: 24 });
    assert.deepEqual(config.timing, { heartbeatIntervalMs: 500, engineDownAfterMs: 3000, inferenceTimeoutMs: 20_000, loadTimeoutMs: 600_000 });
  });

  test('model source forms', () => {
    const directory = path.join(scratch, 'source-forms');
    mkdirSync(directory, { recursive: true });
    const models = [
      '[Basic]\nparent = 0\nmodel = "gdrive:1-rfV85rTtGRMCi3ljUN0FgKnsiLjnPf5"',
      '[Second.0]\nparent = 0\nmodel = "file:///srv/models/acne.onnx"',
      '[Second.1]\nparent = 0\nmodel = "../shared/models/m.h5"',
      '[Second.2]\nparent = 0\nmodel = "https://drive.google.com/file/d/1-rfV85rTtGRMCi3ljUN0FgKnsiLjnPf5/view"',
    ];
    writeFileSync(path.join(directory, 'models.toml'), models.join('\n\n'));
    const config = loadClusterConfig([SEED_SERVERS, path.join(directory, 'models.toml')], { cwd: scratch });
    assert.equal(config.basic.source, 'gdrive:1-rfV85rTtGRMCi3ljUN0FgKnsiLjnPf5');
    assert.equal(config.second[0]?.source, '/srv/models/acne.onnx');
    assert.equal(config.second[1]?.source, path.join(scratch, 'shared', 'models', 'm.h5'));
    assert.equal(config.second[2]?.source, 'https://drive.google.com/file/d/1-rfV85rTtGRMCi3ljUN0FgKnsiLjnPf5/view');
  });

  test('file URL with a host', () => {
    const configPath = path.join(scratch, 'file-url-host.toml');
    writeFileSync(configPath, '[Basic]\nparent = 0\nmodel = "file://fileserver/models/basic.onnx"\n');
    const error = loadError([SEED_SERVERS, configPath]);
    assertIssue(error, { file: 'file-url-host.toml', line: 3, key: 'Basic.model', includes: ['found "file://fileserver/models/basic.onnx"'] });
  });

  test('drive-shaped name of a local file', () => {
    const directory = path.join(scratch, 'drive-shaped');
    mkdirSync(directory, { recursive: true });
    const localName = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    writeFileSync(path.join(directory, localName), 'not a model');
    writeFileSync(
      path.join(directory, 'models.toml'),
      `[Basic]\nparent = 0\nmodel = "${localName}"\n\n[Second.0]\nparent = 0\nmodel = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"\n`,
    );
    const config = loadClusterConfig([SEED_SERVERS, path.join(directory, 'models.toml')], { cwd: scratch });
    assert.equal(config.basic.source, path.join(directory, localName));
    assert.equal(config.second[0]?.source, 'BBBBBBBBBBBBBBBBBBBBBBBBBBBBBB');
  });
});

describe('overrides', () => {
  test('flags replace coordinator settings', () => {
    const config = loadClusterConfig([fixture('full')], { cwd: scratch, overrides: { host: '127.0.0.2', port: 0, dataDir: 'elsewhere' } });
    assert.deepEqual(config.coordinator, { host: '127.0.0.2', port: 0, dataDir: path.join(scratch, 'elsewhere') });
  });

  test('partial override keeps file values', () => {
    const config = loadClusterConfig([fixture('full')], { cwd: scratch, overrides: { port: 9191 } });
    assert.deepEqual(config.coordinator, { host: '0.0.0.0', port: 9191, dataDir: path.join(scratch, 'state') });
  });

  test('invalid override is rejected', () => {
    const error = loadError([SEED_SERVERS, SEED_MODELS], { cwd: scratch, overrides: { port: 70_000, host: '' } });
    assert.equal(error.code, 'CONFIG_INVALID');
    const lines = problemLines(error);
    assert.equal(lines.length, 2);
    const port = lines.find((line) => line.includes('Coordinator.port: '));
    assert.ok(port !== undefined);
    assert.ok(port.includes('found 70000'));
    assert.ok(port.includes('command-line option'));
    assert.ok(lines.some((line) => line.includes('Coordinator.host: ')));
  });
});

describe('errors', () => {
  test('missing file', () => {
    const missing = fixture('seed', 'no-such-file.toml');
    const error = loadError([SEED_SERVERS, missing]);
    assert.equal(error.code, 'CONFIG_NOT_FOUND');
    assert.ok(error.message.includes(missing));
  });

  test('directory without toml files', () => {
    const error = loadError([fixture('empty-dir')]);
    assert.equal(error.code, 'CONFIG_NOT_FOUND');
    assert.ok(error.message.includes('empty-dir'));
    assert.ok(error.message.includes('*.toml'));
  });

  test('no paths given', () => {
    assert.equal(loadError([]).code, 'CONFIG_NOT_FOUND');
  });

  test('TOML syntax error', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'syntax.toml')]);
    assert.equal(error.code, 'CONFIG_INVALID');
    const line = problemLines(error).find((candidate) => candidate.includes('syntax.toml:'));
    assert.ok(line !== undefined, error.message);
    assert.match(line, /syntax\.toml:[45]: invalid TOML at column \d+/);
  });

  test('missing model', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'missing-model.toml')]);
    assert.equal(error.code, 'CONFIG_INVALID');
    assertIssue(error, { file: 'missing-model.toml', line: 5, key: 'Second.4.model', includes: ['missing required key', 'Google Drive file id'] });
  });

  test('parent out of range', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'parent-out-of-range.toml')]);
    assert.equal(error.code, 'CONFIG_INVALID');
    assertIssue(error, { file: 'parent-out-of-range.toml', line: 6, key: 'Second.9.parent', includes: ['found 4', 'server index from [Servers] (0)'] });
  });

  test('parent of wrong type', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'parent-wrong-type.toml')]);
    assertIssue(error, { file: 'parent-wrong-type.toml', line: 2, key: 'Basic.parent', includes: ['found "0"', 'expected a server index or a list'] });
  });

  test('duplicate category', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'duplicate-category.toml')]);
    assertIssue(error, { file: 'duplicate-category.toml', line: 11, key: 'Second.5.category', includes: ['category 3', '[Second.3] already serves'] });
  });

  test('unknown key with suggestion', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'unknown-key.toml')]);
    assertIssue(error, { file: 'unknown-key.toml', line: 2, key: 'Basic.parnet', includes: ['unknown key "parnet"', 'did you mean "parent"?'] });
    // The misspelled key also leaves `parent` missing, reported at the table header.
    assertIssue(error, { file: 'unknown-key.toml', line: 1, key: 'Basic.parent', includes: ['missing required key'] });
  });

  test('bad scale', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'bad-scale.toml')]);
    assertIssue(error, { file: 'bad-scale.toml', line: 4, key: 'Basic.scale', includes: ['found "0..1"', '"none", "1/255", "[-1,1]", "mean_std"'] });
  });

  test('mean without std', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'mean-without-std.toml')]);
    assert.equal(problemLines(error).length, 1);
    assertIssue(error, { file: 'mean-without-std.toml', line: 1, key: 'Basic.std', includes: ['missing required key', 'scale = "mean_std" needs both mean and std'] });
  });

  test('number mismatch', () => {
    const error = loadError([fixture('invalid', 'number-mismatch.toml'), SEED_MODELS]);
    assertIssue(error, { file: 'number-mismatch.toml', line: 2, key: 'Servers.number', includes: ['found 2', 'expected 1', 'N = 0'] });
  });

  test('category name not in labels', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'category-not-in-labels.toml')]);
    assertIssue(error, { file: 'category-not-in-labels.toml', line: 8, key: 'Second.0.category', includes: ['found "Acne"', 'did you mean "Acne and Rosacea Photos"?'] });
  });

  test('table duplicated across files', () => {
    const error = loadError([SEED_SERVERS, SEED_MODELS, fixture('invalid', 'duplicate-basic.toml')]);
    assertIssue(error, { file: 'duplicate-basic.toml', line: 3, key: 'Basic', includes: ['already defined in', `${SEED_MODELS}:1`] });
  });

  test('labels file missing', () => {
    const error = loadError([SEED_SERVERS, fixture('invalid', 'labels-file-missing.toml')]);
    assertIssue(error, {
      file: 'labels-file-missing.toml',
      line: 4,
      key: 'Basic.labels_file',
      includes: ['found "no-such-labels.txt"', fixture('invalid', 'no-such-labels.txt'), 'does not exist'],
    });
  });

  test('missing tables are named', () => {
    const error = loadError([SEED_SERVERS]);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.ok(problemLines(error).some((line) => line.includes('Basic: missing table') && line.includes('servers.toml')));
  });

  test('all problems reported together', () => {
    const error = loadError([fixture('invalid', 'many-problems.toml')]);
    const lines = problemLines(error);
    const at = (line: number, key: string, ...includes: string[]): ExpectedIssue => ({ file: 'many-problems.toml', line, key, includes });
    assertIssue(error, at(4, 'Servers.0.ipv4', 'found "41.44.5.300"', 'IPv4 address'));
    assertIssue(error, at(5, 'Servers.0.prot', 'did you mean "port"?'));
    assertIssue(error, at(7, 'Basic.model', 'missing required key'));
    assertIssue(error, at(9, 'Basic.scale', 'found "[0,1]"'));
    assertIssue(error, at(12, 'Second.1.parent', 'found 3', '(0)'));
    assertIssue(error, at(13, 'Second.1.model', 'found "ftp://models.example.com/acne.onnx"', 'only http, https and file URLs'));
    assertIssue(error, at(14, 'Second.1.resize', 'found "linear"', '"bilinear"'));
    assertIssue(error, at(17, 'Timing.heartbeat_interval_ms', 'found -5', 'milliseconds'));
    assert.equal(lines.length, 8, error.message);
    assert.ok(error.message.startsWith('Invalid configuration (8 problems)'));

    const numbers = lines.map((line) => Number(/many-problems\.toml:(\d+):/.exec(line)?.[1]));
    assert.deepEqual(numbers, [...numbers].sort((a, b) => a - b));
  });

  test('non-numeric server table', () => {
    const configPath = path.join(scratch, 'servers-named.toml');
    writeFileSync(configPath, '[Servers]\nnumbr = 1\n[Servers.main]\nipv4 = "10.0.0.1"\n');
    const error = loadError([configPath, SEED_MODELS]);
    assertIssue(error, { file: 'servers-named.toml', line: 2, key: 'Servers.numbr', includes: ['did you mean "number"?'] });
    assertIssue(error, { file: 'servers-named.toml', line: 3, key: 'Servers.main', includes: ['whole-number index'] });
  });

  test('bad server key beside bad values', () => {
    const configPath = path.join(scratch, 'servers-mixed.toml');
    writeFileSync(configPath, '[Servers]\nnumber = 3\n[Servers.0]\nipv4 = "10.0.0.1"\nport = "80"\n[Servers.x]\nipv4 = "10.0.0.2"\n');
    const error = loadError([configPath, SEED_MODELS]);
    assertIssue(error, { file: 'servers-mixed.toml', line: 5, key: 'Servers.0.port', includes: ['found "80"'] });
    assertIssue(error, { file: 'servers-mixed.toml', line: 6, key: 'Servers.x', includes: ['whole-number index'] });
    assert.equal(problemLines(error).length, 2, 'the count and parent checks stay quiet while a server key is invalid');
  });

  test('bad second key beside a bad second table', () => {
    const configPath = path.join(scratch, 'second-mixed.toml');
    writeFileSync(configPath, "[Basic]\nparent = 0\nmodel = 'x.onnx'\n\n[Second]\n[Second.one]\nparent = 0\n[Second.1]\nparent = 0\nmodel = ''\n");
    const error = loadError([SEED_SERVERS, configPath]);
    assertIssue(error, { file: 'second-mixed.toml', line: 6, key: 'Second.one', includes: ['whole-number index'] });
    assertIssue(error, { file: 'second-mixed.toml', line: 10, key: 'Second.1.model', includes: ['found ""'] });
  });

  test('second keys outside a numbered table', () => {
    const configPath = path.join(scratch, 'second-flat.toml');
    writeFileSync(configPath, "[Basic]\nparent = 0\nmodel = 'x.onnx'\n\n[Second]\nparent = 0\n");
    const error = loadError([SEED_SERVERS, configPath]);
    assertIssue(error, { file: 'second-flat.toml', line: 6, key: 'Second.parent', includes: ['[Second.N] tables'] });
  });

  test('string category without basic labels', () => {
    const configPath = path.join(scratch, 'category-no-labels.toml');
    writeFileSync(configPath, "[Basic]\nparent = 0\nmodel = 'x.onnx'\n\n[Second.0]\nparent = 0\nmodel = 'y.onnx'\ncategory = 'Acne'\n");
    const error = loadError([SEED_SERVERS, configPath]);
    assertIssue(error, { file: 'category-no-labels.toml', line: 8, key: 'Second.0.category', includes: ['[Basic] has no labels'] });
  });
});

describe('render', () => {
  function writeRendered(name: string, config: ClusterConfig): { servers: string; models: string } {
    const directory = path.join(scratch, name);
    mkdirSync(directory, { recursive: true });
    const servers = path.join(directory, 'servers.toml');
    const models = path.join(directory, 'models.toml');
    writeFileSync(servers, renderServersToml(config.servers));
    writeFileSync(models, renderModelsToml(config, { cwd: scratch }));
    return { servers, models };
  }

  test('seed round trip', () => {
    const original = loadClusterConfig([SEED_SERVERS, SEED_MODELS], { cwd: scratch });
    const files = writeRendered('seed-round-trip', original);
    const reloaded = loadClusterConfig([files.servers, files.models], { cwd: scratch });
    assert.deepEqual(withoutSources(reloaded), withoutSources(original));
  });

  test('servers file keeps the users form', () => {
    const original = loadClusterConfig([SEED_SERVERS, SEED_MODELS], { cwd: scratch });
    assert.equal(renderServersToml(original.servers), '[Servers]\nnumber = 1\n\n[Servers.0]\nipv4 = "41.44.5.83"\n');
  });

  test('full round trip', () => {
    const original = loadClusterConfig([fixture('full')], { cwd: scratch });
    const files = writeRendered('full-round-trip', original);
    const reloaded = loadClusterConfig([files.servers, files.models], { cwd: scratch });
    assert.deepEqual(withoutSources(reloaded), withoutSources(original));
  });

  test('full round trip as one file', () => {
    const original = loadClusterConfig([fixture('full')], { cwd: scratch });
    const combined = path.join(scratch, 'combined-round-trip.toml');
    writeFileSync(combined, `${renderServersToml(original.servers)}\n${renderModelsToml(original, { cwd: scratch })}`);
    const reloaded = loadClusterConfig([combined], { cwd: scratch });
    assert.deepEqual(withoutSources(reloaded), withoutSources(original));
  });

  test('only changed keys are written', () => {
    const original = loadClusterConfig([fixture('full')], { cwd: scratch });
    const servers = renderServersToml(original.servers);
    assert.ok(servers.includes('name = "gpu-1"'));
    assert.ok(servers.includes('port = 9000'));
    assert.ok(!servers.includes('port = 7100'));
    assert.ok(!servers.includes('server-0'));

    const models = renderModelsToml(original, { cwd: scratch });
    assert.ok(models.includes('category = "Atopic Dermatitis Photos"'));
    assert.ok(models.includes('data_dir = '));
    assert.ok(!/^category = 0$/m.test(models), 'a category equal to the table key is left out');
  });
});

describe('key lines', () => {
  test('headers, dotted and quoted keys', () => {
    const lines = indexKeyLines(
      [
        '# comment',
        '[Servers]',
        'number = 2',
        '0 = { ipv4 = "10.0.0.1" }',
        '[Servers."1"]',
        'ipv4 = "10.0.0.2"',
        'note = """',
        'port = 1',
        '"""',
        '[Basic]',
        'preprocessing.scale = "none"',
      ].join('\n'),
    );
    assert.equal(lines.lineOf(['Servers']), 2);
    assert.equal(lines.lineOf(['Servers', 'number']), 3);
    assert.equal(lines.lineOf(['Servers', '0', 'ipv4']), 4);
    assert.equal(lines.lineOf(['Servers', '1', 'ipv4']), 6);
    // A key-like line inside a multi-line string is not a key.
    assert.equal(lines.lineOf(['Servers', '1', 'port']), 5);
    assert.equal(lines.lineOf(['Basic', 'preprocessing', 'scale']), 11);
    assert.equal(lines.lineOf(['Basic', 'model']), 10);
    assert.equal(lines.lineOf(['Timing']), null);
  });
});
