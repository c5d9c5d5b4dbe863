import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { CONFIG_DEFAULTS } from '../config/defaults.js';
import { loadClusterConfig } from '../config/load.js';
import { renderModelsToml, renderServersToml } from '../config/render.js';
import { DATABASE_FILE, StateStore } from '../store/state-store.js';
import { CascadeError } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import { registerConfigApply } from './config-apply.js';
import { collect } from './options.js';

interface ExportFlags {
  dataDir: string;
  out?: string;
}

export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('Check, apply and export cluster configuration');
  registerConfigApply(config);

  config
    .command('export')
    .description('Write the stored cluster as TOML, with the addresses engines last reported')
    .option('--data-dir <path>', 'folder of the coordinator\'s state database', CONFIG_DEFAULTS.coordinator.dataDir)
    .option('-o, --out <folder>', 'write servers.toml and models.toml into this folder instead of printing the servers file')
    .action((flags: ExportFlags) => exportConfig(flags));

  config
    .command('check')
    .description('Validate TOML files the way the coordinator would, and print the result')
    .requiredOption('-c, --config <path>', 'TOML file or folder of TOML files (repeatable)', collect, [])
    .action((flags: { config: string[] }) => checkConfig(flags.config));
}

function exportConfig(flags: ExportFlags): void {
  const dataDir = resolve(flags.dataDir);
  // Checked first, because opening the store would create an empty database there.
  if (!existsSync(join(dataDir, DATABASE_FILE))) {
    throw new CascadeError('CONFIG_NOT_FOUND', `No cluster is stored in ${dataDir} (no ${DATABASE_FILE} there); give the coordinator's --data-dir.`, { dataDir });
  }
  // The coordinator may be running: SQLite in WAL mode lets this read alongside it.
  const store = StateStore.open(dataDir, silentLogger());
  try {
    const cluster = store.loadCluster();
    if (cluster === null) {
      throw new CascadeError('CONFIG_NOT_FOUND', `No cluster is stored in ${dataDir}; give the coordinator's --data-dir.`, { dataDir });
    }
    const servers = renderServersToml(cluster.servers);
    if (flags.out === undefined) {
      process.stdout.write(servers);
      return;
    }
    mkdirSync(flags.out, { recursive: true });
    writeFileSync(join(flags.out, 'servers.toml'), servers);
    writeFileSync(join(flags.out, 'models.toml'), renderModelsToml(cluster));
    process.stdout.write(`wrote ${join(flags.out, 'servers.toml')} and ${join(flags.out, 'models.toml')}\n`);
  } finally {
    store.close();
  }
}

function checkConfig(paths: string[]): void {
  const cluster = loadClusterConfig(paths);
  const models = [cluster.basic, ...cluster.second];
  process.stdout.write(`valid: ${cluster.servers.length} servers, ${models.length} models (${cluster.sourceFiles.join(', ')})\n`);
  for (const model of models) {
    const name = model.categoryName ?? (model.category === null ? null : (cluster.basic.labels?.[model.category] ?? null));
    const category = model.tier === 'second' ? ` for category ${model.category ?? '?'}${name !== null ? ` (${name})` : ''}` : '';
    process.stdout.write(`  ${model.id}${category} on server ${model.parents.join(', ')}: ${model.source}\n`);
  }
}
