/**
 * Admin API routes of the catalog: resources and their versions, registered by the origin
 * and approved by an operator before a release may take them, and removed (kept as
 * tombstones) once nothing uses them, before the origin deletes their content.
 */
import { removeVersion, versionUsage } from '../rollout/version-use.ts'
import type { P, RouteContext, RouteDef } from './route-kit.ts'
import * as S from './schemas.ts'

/** The catalog's routes. */
export function catalogRoutes(c: RouteContext): RouteDef[] {
  const { state, view, commit } = c
  return [
    {
      method: 'GET',
      url: '/resources',
      summary:
        'List resources: versions kept (removed ones not counted), latest number registered, latest approved, removed (if any)',
      handler: async () => view.catalog.resources(),
    },
    {
      method: 'GET',
      url: '/resources/:name/versions',
      summary: 'List versions of a resource',
      schema: { params: S.resourceParams },
      handler: async (req) => view.catalog.list((req.params as P).name),
    },
    {
      method: 'POST',
      url: '/resources/:name/versions',
      summary: 'Register a version (the origin calls this); it starts as draft',
      schema: { params: S.resourceParams, body: S.versionBody },
      status: 201,
      handler: async (req) => {
        const b = req.body as {
          version: number
          manifestCid: string
          size: number
          type: string
          mime?: string
        }
        return commit((tx) => state.catalog.register(tx, { resource: (req.params as P).name, ...b }))
      },
    },
    {
      method: 'POST',
      url: '/resources/:name/versions/:version/approve',
      summary: 'Approve a draft version for release',
      schema: { params: S.versionParams },
      handler: async (req) => {
        const p = req.params as { name: string; version: number }
        return commit((tx) => state.catalog.approve(tx, p.name, p.version))
      },
    },
    {
      method: 'GET',
      url: '/resources/:name/versions/:version/usage',
      summary:
        'Whether a removal of the version would be taken now: inUse, and the message and details a refusal would give (nothing is changed)',
      schema: { params: S.versionParams },
      handler: async (req) => {
        const p = req.params as { name: string; version: number }
        return versionUsage(state, p.name, p.version)
      },
    },
    {
      method: 'DELETE',
      url: '/resources/:name/versions/:version',
      summary:
        'Remove a version (the origin calls this before deleting its content): kept as a tombstone, status removed, its number never reused; 200 with the record (also if removed already), 409 ERR_VERSION_IN_USE while a node runs it, a running or paused release carries it, it is what a node should run, a rollback target, or a command carrying it is out',
      schema: { params: S.versionParams },
      handler: async (req) => {
        const p = req.params as { name: string; version: number }
        return commit((tx) => removeVersion(state, tx, p.name, p.version))
      },
    },
  ]
}
