import type { CascadeRoutes } from '../pipeline/cascade.js';
import type { RoutingTable } from '../shared/protocol.js';

/** Reads the cascade's routes (basic model, category to second model) from a routing table. */
export function routesFrom(table: RoutingTable): CascadeRoutes {
  return {
    basicModelId: table.basicModelId,
    secondModelFor: (categoryIndex) => table.categories[String(categoryIndex)] ?? null,
  };
}
