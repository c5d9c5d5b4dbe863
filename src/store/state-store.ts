import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ClusterConfig, ModelConfig, ServerConfig } from '../config/types.js';
import type { ModelDescriptor } from '../runtime/loaded-model.js';
import type { Logger } from '../shared/logger.js';
import type { EngineState, ModelState } from '../shared/states.js';
import { MIGRATIONS } from './schema.js';

export const DATABASE_FILE = 'cascade.sqlite';

export interface EngineRecord {
  serverIndex: number;
  engineId: string;
  /** host:port the engine reported. */
  address: string;
  state: EngineState;
  reason: string;
  lastSeen: number;
}

export interface ReplicaRecord {
  modelId: string;
  serverIndex: number;
  state: ModelState;
  reason: string;
  version: string | null;
  descriptor: ModelDescriptor | null;
  updatedAt: number;
}

export interface EventRecord {
  at: number;
  subject: string;
  state: string;
  reason: string;
}

/**
 * The coordinator's durable state in SQLite: the desired cluster (servers, models,
 * placements, settings), what engines last reported, and a log of state changes.
 * Writes are synchronous and each public method is one transaction, so a crash never
 * leaves half a change behind.
 */
export class StateStore {
  private readonly db: Database.Database;
  private closed = false;

  private constructor(db: Database.Database) {
    this.db = db;
  }

  static open(dataDir: string, logger: Logger): StateStore {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, DATABASE_FILE);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    logger.debug({ path }, 'state database opened');
    return new StateStore(db);
  }

  /** Replaces the desired cluster with a configuration, keeping engine reports. */
  applyConfig(config: ClusterConfig, reason: string): void {
    const now = Date.now();
    const apply = this.db.transaction(() => {
      this.db.prepare('DELETE FROM placements').run();
      this.db.prepare('DELETE FROM models').run();
      this.db.prepare('DELETE FROM servers').run();
      const insertServer = this.db.prepare('INSERT INTO servers (idx, ipv4, port, name, updated_at) VALUES (?, ?, ?, ?, ?)');
      for (const server of config.servers) insertServer.run(server.index, server.ipv4, server.port, server.name, now);
      const insertModel = this.db.prepare('INSERT INTO models (id, tier, config_json, updated_at) VALUES (?, ?, ?, ?)');
      const insertPlacement = this.db.prepare('INSERT INTO placements (model_id, server_idx) VALUES (?, ?)');
      for (const model of [config.basic, ...config.second]) {
        insertModel.run(model.id, model.tier, JSON.stringify(model), now);
        for (const parent of model.parents) insertPlacement.run(model.id, parent);
      }
      this.setMeta('config', JSON.stringify(withoutServersAndModels(config)));
      this.insertEvent(now, 'cluster', 'configured', reason);
    });
    apply();
  }

  /** Rebuilds the desired cluster from the database; null when none was ever applied. */
  loadCluster(): ClusterConfig | null {
    const settings = this.getMeta('config');
    if (settings === null) return null;
    const base = JSON.parse(settings) as Omit<ClusterConfig, 'servers' | 'basic' | 'second'>;
    const servers = this.listServers();
    const models = this.listModels();
    const basic = models.find((model) => model.tier === 'basic');
    if (basic === undefined) return null;
    const second = models.filter((model) => model.tier === 'second');
    return { ...base, servers, basic, second };
  }

  listServers(): ServerConfig[] {
    const rows = this.db.prepare<[], { idx: number; ipv4: string; port: number; name: string }>('SELECT idx, ipv4, port, name FROM servers ORDER BY idx').all();
    return rows.map((row) => ({ index: row.idx, ipv4: row.ipv4, port: row.port, name: row.name }));
  }

  listModels(): ModelConfig[] {
    const rows = this.db.prepare<[], { id: string; config_json: string }>('SELECT id, config_json FROM models ORDER BY id').all();
    const placements = this.db.prepare<[], { model_id: string; server_idx: number }>('SELECT model_id, server_idx FROM placements ORDER BY server_idx').all();
    return rows.map((row) => {
      const config = JSON.parse(row.config_json) as ModelConfig;
      const parents = placements.filter((placement) => placement.model_id === row.id).map((placement) => placement.server_idx);
      return { ...config, parents };
    });
  }

  /** Records a server's new address; returns whether it changed. */
  updateServerAddress(serverIndex: number, ipv4: string, port: number, reason: string): boolean {
    const current = this.db.prepare<[number], { ipv4: string; port: number }>('SELECT ipv4, port FROM servers WHERE idx = ?').get(serverIndex);
    if (current === undefined || (current.ipv4 === ipv4 && current.port === port)) return false;
    const now = Date.now();
    this.db.transaction(() => {
      this.db.prepare('UPDATE servers SET ipv4 = ?, port = ?, updated_at = ? WHERE idx = ?').run(ipv4, port, now, serverIndex);
      this.insertEvent(now, `server/${serverIndex}`, 'address-changed', reason);
    })();
    return true;
  }

  upsertEngine(record: EngineRecord): void {
    const now = Date.now();
    const previous = this.getEngine(record.serverIndex);
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO engines (server_idx, engine_id, address, state, reason, last_seen, updated_at)
           VALUES (@serverIndex, @engineId, @address, @state, @reason, @lastSeen, @now)
           ON CONFLICT(server_idx) DO UPDATE SET engine_id = excluded.engine_id, address = excluded.address,
             state = excluded.state, reason = excluded.reason, last_seen = excluded.last_seen, updated_at = excluded.updated_at`,
        )
        .run({ ...record, now });
      if (previous === null || previous.state !== record.state || previous.engineId !== record.engineId) {
        this.insertEvent(now, `engine/${record.serverIndex}`, record.state, record.reason);
      }
    })();
  }

  getEngine(serverIndex: number): EngineRecord | null {
    const row = this.db.prepare<[number], EngineRow>('SELECT * FROM engines WHERE server_idx = ?').get(serverIndex);
    return row === undefined ? null : toEngineRecord(row);
  }

  listEngines(): EngineRecord[] {
    const rows = this.db.prepare<[], EngineRow>('SELECT * FROM engines ORDER BY server_idx').all();
    return rows.map(toEngineRecord);
  }

  /** Stores the reported state of a replica; a change of state is also logged as an event. */
  upsertReplica(record: Omit<ReplicaRecord, 'updatedAt'>): void {
    const now = Date.now();
    const previous = this.db.prepare<[string, number], { state: string; version: string | null }>('SELECT state, version FROM replicas WHERE model_id = ? AND server_idx = ?').get(record.modelId, record.serverIndex);
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO replicas (model_id, server_idx, state, reason, version, descriptor_json, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(model_id, server_idx) DO UPDATE SET state = excluded.state, reason = excluded.reason,
             version = excluded.version, descriptor_json = excluded.descriptor_json, updated_at = excluded.updated_at`,
        )
        .run(record.modelId, record.serverIndex, record.state, record.reason, record.version, record.descriptor === null ? null : JSON.stringify(record.descriptor), now);
      if (previous === undefined || previous.state !== record.state || previous.version !== record.version) {
        this.insertEvent(now, `model/${record.modelId}@${record.serverIndex}`, record.state, record.reason);
      }
    })();
  }

  /** Removes replicas an engine no longer reports. */
  deleteReplicasExcept(serverIndex: number, keepModelIds: string[]): void {
    const placeholders = keepModelIds.map(() => '?').join(', ');
    const sql = keepModelIds.length === 0 ? 'DELETE FROM replicas WHERE server_idx = ?' : `DELETE FROM replicas WHERE server_idx = ? AND model_id NOT IN (${placeholders})`;
    this.db.prepare(sql).run(serverIndex, ...keepModelIds);
  }

  listReplicas(): ReplicaRecord[] {
    const rows = this.db.prepare<[], ReplicaRow>('SELECT * FROM replicas ORDER BY model_id, server_idx').all();
    return rows.map((row) => ({
      modelId: row.model_id,
      serverIndex: row.server_idx,
      state: row.state,
      reason: row.reason,
      version: row.version,
      descriptor: row.descriptor_json === null ? null : (JSON.parse(row.descriptor_json) as ModelDescriptor),
      updatedAt: row.updated_at,
    }));
  }

  listEvents(limit: number): EventRecord[] {
    return this.db.prepare<[number], EventRecord>('SELECT at, subject, state, reason FROM events ORDER BY id DESC LIMIT ?').all(limit);
  }

  getMeta(key: string): string | null {
    const row = this.db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(key);
    return row?.value ?? null;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private insertEvent(at: number, subject: string, state: string, reason: string): void {
    this.db.prepare('INSERT INTO events (at, subject, state, reason) VALUES (?, ?, ?, ?)').run(at, subject, state, reason);
  }
}

// Row types name the state unions: these columns only receive values this class wrote.
interface EngineRow {
  server_idx: number;
  engine_id: string;
  address: string;
  state: EngineState;
  reason: string;
  last_seen: number;
}

interface ReplicaRow {
  model_id: string;
  server_idx: number;
  state: ModelState;
  reason: string;
  version: string | null;
  descriptor_json: string | null;
  updated_at: number;
}

function toEngineRecord(row: EngineRow): EngineRecord {
  return { serverIndex: row.server_idx, engineId: row.engine_id, address: row.address, state: row.state, reason: row.reason, lastSeen: row.last_seen };
}

function withoutServersAndModels(config: ClusterConfig): Omit<ClusterConfig, 'servers' | 'basic' | 'second'> {
  const { servers: _servers, basic: _basic, second: _second, ...rest } = config;
  return rest;
}

function migrate(db: Database.Database): void {
  const applied = db.pragma('user_version', { simple: true }) as number;
  for (let index = applied; index < MIGRATIONS.length; index += 1) {
    const migration = MIGRATIONS[index] ?? '';
    db.transaction(() => {
      db.exec(migration);
      db.pragma(`user_version = ${index + 1}`);
    })();
  }
}
