/**
 * Admin API routes of releases: list, create (idempotent with `Idempotency-Key`), status,
 * per-node states a page at a time, and the operator's operations.
 */
import type { CreateReleaseInput } from '../rollout/engine.ts'
import { parseIdempotencyKey } from '../rollout/idempotency.ts'
import { releaseStatus } from '../rollout/status.ts'
import { pageOf } from './pages.ts'
import { byId, limit, list, type P, type RouteContext, type RouteDef } from './route-kit.ts'
import * as S from './schemas.ts'

/** The releases' routes. */
export function releaseRoutes(c: RouteContext): RouteDef[] {
  const { engine, view } = c
  const inv = view.inventory
  return [
    {
      method: 'GET',
      url: '/releases',
      summary: 'List releases, newest first',
      schema: list,
      // Newest first, by creation time (the id breaks a tie): `?limit=n` keeps the latest n.
      // The map's own order is creation order only until a restart, which loads releases in
      // the order of their random ids; and oldest first, the default limit cut a long-lived
      // tracker's recent releases out of `dandelion release list`.
      handler: async (req) =>
        limit(
          [...view.releases.releases.values()].sort(
            (a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0),
          ),
          req,
        ),
    },
    {
      method: 'POST',
      url: '/releases',
      summary: 'Create a release: targets, stages with gates, optional A/B split and activation time',
      schema: { body: S.releaseBody },
      status: 201,
      headers: { 'Idempotency-Key': S.idempotencyKeyHeader },
      handler: async (req, reply) => {
        const key = parseIdempotencyKey(req.headers['idempotency-key'])
        if (key === undefined) return engine.create(req.body as CreateReleaseInput)
        const { release, replayed } = await engine.createIdempotent(key, req.body as CreateReleaseInput)
        // a replay answers as the first request did (201, the release as it is now)
        if (replayed) reply.header('idempotent-replayed', 'true')
        return release
      },
    },
    {
      method: 'GET',
      url: '/releases/:id',
      summary: 'Release status: counts per stage, city, campus and variant; bytes by source',
      schema: byId,
      handler: async (req) => releaseStatus(view, (req.params as P).id),
    },
    {
      method: 'GET',
      url: '/releases/:id/nodes',
      summary:
        'Per-node state of a release (optionally one state), with city and campus, by node id, a page at a time: { nodes, next? }; pass next as ?cursor for the page after. A compacted release lists only the nodes it still holds (held open when it was compacted, or late members since), and says { compacted: { at, nodes, counts } }',
      schema: { params: S.idParams, querystring: S.releaseNodesQuery },
      // in pages after a cursor, as GET /nodes: before, one answer of at most 10,000 nodes,
      // and a larger release's status (`dandelion release status`, the walkthrough) missed the rest
      handler: async (req) => {
        const id = (req.params as P).id
        const release = view.releases.get(id)
        const q = req.query as { limit: number; state?: string; cursor?: string }
        const of = view.releases.nodes.get(id)
        const ids: string[] = []
        for (const rn of of?.values() ?? [])
          if (q.state === undefined || rn.state === q.state) ids.push(rn.nodeId)
        const page = pageOf(ids.sort(), q.cursor, q.limit)
        const nodes = page.keys.map((nodeId) => {
          const rn = of!.get(nodeId)!
          const n = inv.nodes.get(nodeId)
          return { ...rn, campus: n?.campus, city: n === undefined ? undefined : inv.cityOf(n) }
        })
        // a compacted release holds counts, not per-node states, but for the nodes still held
        const c = release.compacted
        return c === undefined
          ? { nodes, next: page.next }
          : { nodes, next: page.next, compacted: { at: c.at, nodes: c.nodes, counts: c.counts } }
      },
    },
    {
      method: 'POST',
      url: '/releases/:id/advance',
      summary:
        'Issue the next stage whatever its gate; with { "from": <release.stage> } it is refused (409 ERR_STAGE_MISMATCH) if the release has moved on, so it is safe to retry',
      schema: { params: S.idParams, body: S.advanceBody },
      bodyOptional: true,
      handler: async (req) => {
        const from = (req.body as { from?: number } | null | undefined)?.from
        return engine.operate((req.params as P).id, 'advance', { from })
      },
    },
    {
      method: 'POST',
      url: '/releases/:id/:op',
      summary:
        'pause | resume | abort | rollback | compact (a finished release now, as the retention sweep would: no rollback after)',
      schema: { params: S.releaseOpParams },
      handler: async (req) => {
        const p = req.params as { id: string; op: 'pause' | 'resume' | 'abort' | 'rollback' | 'compact' }
        return engine.operate(p.id, p.op)
      },
    },
  ]
}
