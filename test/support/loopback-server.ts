/** A plain HTTP server on 127.0.0.1 with one handler per path, for tests of HTTP clients. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Handles one request. `hit` counts the requests to this path so far, starting at 1. */
export type LoopbackRoute = (request: IncomingMessage, response: ServerResponse, hit: number) => void;

export interface LoopbackServer {
  baseUrl: string;
  close(): Promise<void>;
  /** Requests received for a path (query string excluded). */
  requestCount(path: string): number;
}

export async function startLoopbackServer(routes: Record<string, LoopbackRoute>): Promise<LoopbackServer> {
  const counts = new Map<string, number>();
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const hit = (counts.get(path) ?? 0) + 1;
    counts.set(path, hit);

    const handler = routes[path];
    if (handler === undefined) {
      response.writeHead(404, { 'content-type': 'text/plain' });
      response.end('not found');
      return;
    }
    handler(request, response, hit);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('loopback server has no TCP address');

  return {
    baseUrl: `http://127.0.0.1:${(address satisfies AddressInfo).port}`,
    requestCount: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error === undefined ? resolve() : reject(error)));
      }),
  };
}
