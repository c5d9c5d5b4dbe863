/**
 * Writes the configuration of a simulated fleet: N servers and ten models (one basic,
 * nine second) each placed on every server, so the coordinator tracks 10 x N placements.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Port every simulated engine reports; the addresses differ, so address and port pairs stay unique. */
export const SIMULATED_ENGINE_PORT = 7100;

export const SECOND_MODEL_COUNT = 9;

/** Labels per second model; HAM10000, the users' data set, has seven classes. */
const DISEASES_PER_CATEGORY = 7;

export interface FleetModel {
  id: string;
  labels: string[];
}

export interface FleetLayout {
  configDir: string;
  /** Server index to the `host:port` its simulated engine reports. */
  addresses: string[];
  models: FleetModel[];
}

/**
 * Writes `servers.toml` and `models.toml` for `serverCount` servers into `configDir`,
 * and `timing.toml` when `engineDownAfterMs` replaces the default. `modelFile` must
 * exist only because the loader resolves paths; nothing loads it.
 */
export function writeFleetConfig(configDir: string, serverCount: number, modelFile: string, engineDownAfterMs: number | null): FleetLayout {
  const addresses = Array.from({ length: serverCount }, (_, index) => `${serverAddress(index)}:${SIMULATED_ENGINE_PORT}`);
  const models = fleetModels();
  writeFileSync(join(configDir, 'servers.toml'), serversToml(serverCount));
  writeFileSync(join(configDir, 'models.toml'), modelsToml(models, serverCount, modelFile));
  if (engineDownAfterMs !== null) writeFileSync(join(configDir, 'timing.toml'), `[Timing]\nengine_down_after_ms = ${engineDownAfterMs}\n`);
  return { configDir, addresses, models };
}

/** Returns a distinct private IPv4 address per server index: 10.0.0.1, ..., 10.0.0.200, 10.0.1.1, ... */
function serverAddress(index: number): string {
  return `10.0.${Math.floor(index / 200)}.${(index % 200) + 1}`;
}

function fleetModels(): FleetModel[] {
  const categories = Array.from({ length: SECOND_MODEL_COUNT }, (_, category) => `category ${category}`);
  const second = categories.map((_, category) => ({
    id: `second-${category}`,
    labels: Array.from({ length: DISEASES_PER_CATEGORY }, (__, disease) => `disease ${disease} of category ${category}`),
  }));
  return [{ id: 'basic', labels: categories }, ...second];
}

function serversToml(serverCount: number): string {
  const lines = ['[Servers]', `number = ${serverCount}`];
  for (let index = 0; index < serverCount; index += 1) {
    lines.push(`[Servers.${index}]`, `ipv4 = "${serverAddress(index)}"`, `port = ${SIMULATED_ENGINE_PORT}`);
  }
  return `${lines.join('\n')}\n`;
}

function modelsToml(models: FleetModel[], serverCount: number, modelFile: string): string {
  const parents = `[${Array.from({ length: serverCount }, (_, index) => index).join(', ')}]`;
  const tables = models.map((model, position) => {
    const header = position === 0 ? '[Basic]' : `[Second.${position - 1}]`;
    const labels = `[${model.labels.map((label) => JSON.stringify(label)).join(', ')}]`;
    return [header, `parent = ${parents}`, `model = ${JSON.stringify(modelFile)}`, `labels = ${labels}`].join('\n');
  });
  return `${tables.join('\n\n')}\n`;
}
