import { InvalidArgumentError } from 'commander';
import { parseHostPort } from '../shared/address.js';

/** Parses a TCP port flag; 0 lets the OS pick a free port. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new InvalidArgumentError(`'${value}' is not a port; give an integer from 0 to 65535.`);
  }
  return port;
}

export function parseNonNegativeInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) {
    throw new InvalidArgumentError(`'${value}' is not a non-negative integer.`);
  }
  return number;
}

/** Largest accepted ONNX Runtime thread count: far above any core count, far below what exhausts memory. */
export const MAX_THREADS = 256;

/** Parses a thread count flag; 0 lets ONNX Runtime pick one thread per core. */
export function parseThreads(value: string): number {
  const threads = Number(value);
  if (!Number.isInteger(threads) || threads < 0 || threads > MAX_THREADS) {
    throw new InvalidArgumentError(`'${value}' is not a thread count; give an integer from 0 (one per core) to ${MAX_THREADS}.`);
  }
  return threads;
}

/**
 * Checks that a flag's value is an http or https URL. It takes the flag's name because
 * commander does not run parsers on defaults taken from the environment.
 */
export function checkHttpUrl(flag: string, value: string): string {
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    url = null;
  }
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new InvalidArgumentError(`${flag} '${value}' is not an http or https URL; give the scheme and host, for example http://10.0.0.10:8080.`);
  }
  return value;
}

/** Parses an --advertise value, host:port or [ipv6]:port, into its parts. */
export function parseAdvertise(value: string): { address: string; port: number } {
  const port = parseHostPort(value)?.port ?? Number.NaN;
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`'${value}' is not host:port; give the address other machines reach this engine at, for example 10.0.0.11:7100.`);
  }
  return { address: value, port };
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/**
 * Reads the cluster token from a flag or the environment. The CLI is the only place
 * that reads `process.env`; everything below it takes validated values.
 */
export function resolveToken(flag: string | undefined): string {
  return flag ?? process.env.CASCADE_TOKEN ?? '';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function resolveLogLevel(flag: string | undefined): string {
  const level = flag ?? process.env.CASCADE_LOG_LEVEL ?? 'info';
  if (!LOG_LEVELS.includes(level)) {
    throw new InvalidArgumentError(`Log level '${level}' is not one of ${LOG_LEVELS.join(', ')}.`);
  }
  return level;
}
