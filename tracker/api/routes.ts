/**
 * Admin API routes under `/api/v1`. Each route is declared once in a table that both
 * registers it with fastify and feeds the OpenAPI document: the inventory's
 * (`inventory-routes.ts`), the issued enrollment tokens' (`enrollment-token-routes.ts`), the operator
 * tokens' (`operator-routes.ts`), the catalog's (`catalog-routes.ts`), the releases'
 * (`release-routes.ts`), the backups' (`backup-routes.ts`) and the scrubs asked of nodes
 * (`scrub-routes.ts`), made of what `route-kit.ts` shares.
 */
import { auditRoutes } from './audit-routes.ts'
import { backupRoutes } from './backup-routes.ts'
import { catalogRoutes } from './catalog-routes.ts'
import { enrollmentTokenRoutes } from './enrollment-token-routes.ts'
import { inventoryRoutes } from './inventory-routes.ts'
import { operatorRoutes } from './operator-routes.ts'
import { releaseRoutes } from './release-routes.ts'
import { type RouteDef, type RoutesComponents, routeContext } from './route-kit.ts'
import { scrubRoutes } from './scrub-routes.ts'

export type { RouteDef, RoutesComponents } from './route-kit.ts'

/** The route table. */
export function routes(c: RoutesComponents): RouteDef[] {
  const ctx = routeContext(c)
  return [
    ...inventoryRoutes(ctx),
    ...enrollmentTokenRoutes(ctx),
    ...operatorRoutes(ctx),
    ...catalogRoutes(ctx),
    ...releaseRoutes(ctx),
    ...backupRoutes(ctx),
    ...auditRoutes(ctx),
    ...scrubRoutes(ctx),
  ]
}
