import type { Command } from 'commander';
import { loadTlsMaterial, type TlsMaterial } from '../shared/tls.js';

export interface TlsFlags {
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

/** Adds the TLS flags shared by the coordinator and engine commands. */
export function addTlsOptions(command: Command): Command {
  return command
    .option('--tls-cert <file>', 'PEM certificate: serve HTTPS instead of HTTP')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--tls-ca <file>', 'PEM CA certificate trusted when calling other cluster members over HTTPS');
}

export function tlsFromFlags(flags: TlsFlags): TlsMaterial | null {
  return loadTlsMaterial({ certFile: flags.tlsCert ?? null, keyFile: flags.tlsKey ?? null, caFile: flags.tlsCa ?? null });
}
