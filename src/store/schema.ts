/**
 * SQLite schema of the coordinator's state. `PRAGMA user_version` holds the number of
 * migrations applied; a migration is appended, never edited, once released.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE servers (
    idx INTEGER PRIMARY KEY,
    ipv4 TEXT NOT NULL,
    port INTEGER NOT NULL,
    name TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE models (
    id TEXT PRIMARY KEY,
    tier TEXT NOT NULL CHECK (tier IN ('basic', 'second')),
    config_json TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE placements (
    model_id TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    server_idx INTEGER NOT NULL REFERENCES servers(idx) ON DELETE CASCADE,
    PRIMARY KEY (model_id, server_idx)
  );
  CREATE TABLE engines (
    server_idx INTEGER PRIMARY KEY,
    engine_id TEXT NOT NULL,
    address TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    last_seen INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE replicas (
    model_id TEXT NOT NULL,
    server_idx INTEGER NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    version TEXT,
    descriptor_json TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (model_id, server_idx)
  );
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    subject TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL
  );
  CREATE INDEX events_at ON events(at);
  `,
];
