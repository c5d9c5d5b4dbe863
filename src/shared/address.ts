import { createConnection } from 'node:net';

/** Splits "host:port" (IPv6 hosts in brackets) into its parts; null when it is not that form. */
export function parseHostPort(address: string): { host: string; port: number } | null {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (match === null) return null;
  return { host: match[1] ?? '', port: Number(match[2]) };
}

/** Resolves true when a TCP connection opens within `timeoutMs`, else with the reason. */
export function canConnect(host: string, port: number, timeoutMs: number): Promise<true | string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`no connection within ${timeoutMs} ms`);
    });
    socket.once('error', (error) => resolve(error.message));
  });
}
