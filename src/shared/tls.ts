import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { CascadeError } from './errors.js';

/** PEM files for TLS between engines and the coordinator. */
export interface TlsFiles {
  certFile: string | null;
  keyFile: string | null;
  /** CA that signed the peers' certificates; needed by clients of self-signed clusters. */
  caFile: string | null;
}

export interface TlsMaterial {
  cert: Buffer | null;
  key: Buffer | null;
  ca: Buffer | null;
}

/** Reads the PEM files once at start; null when TLS is not configured. */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial | null {
  if (files.certFile === null && files.keyFile === null && files.caFile === null) return null;
  if ((files.certFile === null) !== (files.keyFile === null)) {
    throw new CascadeError('CONFIG_INVALID', 'TLS needs both --tls-cert and --tls-key (or neither, for a process that only calls TLS peers with --tls-ca).');
  }
  return { cert: readPem(files.certFile, '--tls-cert'), key: readPem(files.keyFile, '--tls-key'), ca: readPem(files.caFile, '--tls-ca') };
}

function readPem(path: string | null, flag: string): Buffer | null {
  if (path === null) return null;
  try {
    return readFileSync(path);
  } catch (error) {
    throw new CascadeError('CONFIG_NOT_FOUND', `${flag} ${path} could not be read: ${error instanceof Error ? error.message : String(error)}.`, { path });
  }
}

/** Scheme engines are called with: https when this process was given TLS material. */
export function schemeFor(tls: TlsMaterial | null): 'http' | 'https' {
  return tls === null ? 'http' : 'https';
}

/** An undici Agent that trusts the cluster CA when one is given. */
export function createAgent(tls: TlsMaterial | null, options: { connections: number; connectTimeoutMs: number }): Agent {
  return new Agent({
    connections: options.connections,
    keepAliveTimeout: 30_000,
    connect: { timeout: options.connectTimeoutMs, ...(tls?.ca ? { ca: tls.ca } : {}) },
  });
}
