import type { ModelDescriptor } from '../runtime/loaded-model.js';
import type { RouteEntry, RoutingTable } from './protocol.js';

/**
 * The routing table as it travels to engines: each engine's address once, and each
 * route as a list of server indexes. At a thousand engines and ten models on each, the
 * expanded form repeats every address ten times and is about five times larger.
 */
export interface RoutingWire {
  revision: number;
  basicModelId: string;
  categories: Record<string, string>;
  /** host:port of every engine that appears in a route, by server index. */
  addresses: Record<string, string>;
  routes: Record<string, { descriptor: ModelDescriptor; servers: number[] }>;
}

export function compactRoutingTable(table: RoutingTable): RoutingWire {
  const addresses: Record<string, string> = {};
  const routes: RoutingWire['routes'] = {};
  for (const [modelId, route] of Object.entries(table.routes)) {
    for (const replica of route.replicas) addresses[String(replica.serverIndex)] = replica.address;
    routes[modelId] = { descriptor: route.descriptor, servers: route.replicas.map((replica) => replica.serverIndex) };
  }
  return { revision: table.revision, basicModelId: table.basicModelId, categories: table.categories, addresses, routes };
}

export function expandRoutingTable(wire: RoutingWire): RoutingTable {
  const routes: Record<string, RouteEntry> = {};
  for (const [modelId, route] of Object.entries(wire.routes)) {
    const replicas = route.servers.flatMap((serverIndex) => {
      const address = wire.addresses[String(serverIndex)];
      return address === undefined ? [] : [{ serverIndex, address }];
    });
    routes[modelId] = { modelId, descriptor: route.descriptor, replicas };
  }
  return { revision: wire.revision, basicModelId: wire.basicModelId, categories: wire.categories, routes };
}
