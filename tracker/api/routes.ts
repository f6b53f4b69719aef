/**
 * Admin API routes under `/api/v1`. Each route is declared once in a table that both
 * registers it with fastify and feeds the OpenAPI document.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ChannelServer } from '../channel/server.ts'
import { NotFoundError } from '../errors.ts'
import type { CreateReleaseInput, RolloutEngine } from '../rollout/engine.ts'
import { parseIdempotencyKey } from '../rollout/idempotency.ts'
import { nodeResources } from '../rollout/reconcile.ts'
import { releaseStatus } from '../rollout/status.ts'
import type { Campus, City, Device, NodeRecord, TrackerState } from '../state/index.ts'
import { pageOf } from './pages.ts'
import * as S from './schemas.ts'

/** A route of the admin API. */
export interface RouteDef {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  url: string
  summary: string
  schema?: { body?: object; params?: object; querystring?: object }
  /** The body may be left out (the OpenAPI document says it is not required). @default false */
  bodyOptional?: boolean
  /** Request headers the route reads, for the OpenAPI document (checked by the handler). */
  headers?: Record<string, object>
  status?: number
  handler(req: FastifyRequest, reply: FastifyReply): Promise<unknown>
}

/** What the routes use. */
export interface RoutesComponents {
  state: TrackerState
  engine: RolloutEngine
  channel: ChannelServer
}

type P = Record<string, string>
type Q = { limit: number }
const limit = <T>(items: Iterable<T>, req: FastifyRequest): T[] => [...items].slice(0, (req.query as Q).limit)

/** The route table. */
export function routes(c: RoutesComponents): RouteDef[] {
  const { state, engine, channel } = c
  // Readers read what is on disk; a change is made on the writers' state (`state.inventory`
  // …) and shows here once its commit succeeded, never before, nor if it fails.
  const view = state.committed
  const inv = view.inventory
  const commit = async (fn: (tx: ReturnType<TrackerState['tx']>) => unknown): Promise<unknown> => {
    const tx = state.tx()
    const out = fn(tx)
    await tx.commit({ sync: true })
    return out
  }
  // `lastSeenAt`: now while connected, else when its channel last closed (or the tracker
  // stopped while it was connected); absent if it was never seen disconnecting
  const nodeView = (n: NodeRecord): unknown => {
    const connected = channel.isConnected(n.id)
    return { ...n, city: inv.cityOf(n), connected, lastSeenAt: connected ? Date.now() : n.lastSeenAt }
  }
  /**
   * Creates or changes a node, and queues in the same commit what it lacks of what its
   * (maybe new) campus runs (`rollout/reconcile.ts`); delivered once committed.
   */
  const putNode = async (n: NodeRecord): Promise<unknown> => {
    let touched: string[] = []
    const out = (await commit((tx) => {
      const next = state.inventory.putNode(tx, n)
      touched = engine.reconcile(tx, n.id)
      return next
    })) as NodeRecord
    for (const id of touched) channel.deliver(id)
    return nodeView(out)
  }
  const list = { querystring: S.listQuery }
  const byId = { params: S.idParams }
  return [
    {
      method: 'GET',
      url: '/cities',
      summary: 'List cities',
      schema: list,
      handler: async (req) => limit(inv.cities.values(), req),
    },
    {
      method: 'POST',
      url: '/cities',
      summary: 'Create or replace a city',
      schema: { body: S.cityBody },
      status: 201,
      handler: async (req) =>
        commit((tx) => {
          state.inventory.putCity(tx, req.body as City)
          return req.body
        }),
    },
    {
      method: 'DELETE',
      url: '/cities/:id',
      summary: 'Delete a city without campuses',
      schema: byId,
      status: 204,
      handler: async (req) =>
        void (await commit((tx) => state.inventory.delete(tx, 'city', (req.params as P).id))),
    },
    {
      method: 'GET',
      url: '/campuses',
      summary: 'List campuses',
      schema: list,
      handler: async (req) => limit(inv.campuses.values(), req),
    },
    {
      method: 'POST',
      url: '/campuses',
      summary: 'Create or replace a campus; moved to another city, its nodes are sent what that city runs',
      schema: { body: S.campusBody },
      status: 201,
      handler: async (req) => {
        const campus = req.body as Campus
        const touched: string[] = []
        await commit((tx) => {
          const old = state.inventory.campuses.get(campus.id)
          state.inventory.putCampus(tx, campus)
          // Its nodes' city is read through the campus, so moving it moves them: they now
          // fall under the new city's releases (and out of the old one's), as a node moved
          // with PATCH /nodes/:id does. Queued in the same commit; before, nothing was sent
          // until each node happened to reconnect.
          if (old !== undefined && old.city !== campus.city)
            for (const n of state.inventory.nodes.values())
              if (n.campus === campus.id) touched.push(...engine.reconcile(tx, n.id))
        })
        for (const id of touched) channel.deliver(id)
        return campus
      },
    },
    {
      method: 'DELETE',
      url: '/campuses/:id',
      summary: 'Delete a campus without nodes or devices',
      schema: byId,
      status: 204,
      handler: async (req) =>
        void (await commit((tx) => state.inventory.delete(tx, 'campus', (req.params as P).id))),
    },
    {
      method: 'GET',
      url: '/nodes',
      summary:
        'List nodes with their city and connection state, by id, a page at a time: { nodes, next? }; pass next as ?cursor for the page after',
      schema: { querystring: S.nodeListQuery },
      // In pages after a cursor (`pages.ts`): before, one answer of at most 10,000 nodes, with
      // no way to the rest of a larger city. By id, so that nodes joining or leaving between
      // two pages shift nothing.
      handler: async (req) => {
        const q = req.query as { limit: number; cursor?: string }
        const page = pageOf(inv.nodeIdsInOrder(), q.cursor, q.limit)
        return { nodes: page.keys.map((id) => nodeView(inv.nodes.get(id)!)), next: page.next }
      },
    },
    {
      method: 'POST',
      url: '/nodes',
      summary: 'Pre-register a node (it binds its PeerId when it enrolls)',
      schema: { body: S.nodeBody },
      status: 201,
      handler: async (req) => {
        const b = req.body as NodeRecord
        return putNode({ ...b, labels: b.labels ?? [] })
      },
    },
    {
      method: 'GET',
      url: '/nodes/:id',
      summary: 'One node',
      schema: byId,
      handler: async (req) => {
        const n = inv.nodes.get((req.params as P).id)
        if (n === undefined) throw new NotFoundError(`node ${(req.params as P).id}`)
        return nodeView(n)
      },
    },
    {
      method: 'PATCH',
      url: '/nodes/:id',
      summary: 'Change a node’s campus or labels; it is then sent what its campus runs and it lacks',
      schema: { params: S.idParams, body: S.nodePatchBody },
      handler: async (req) => {
        const id = (req.params as P).id
        const old = state.inventory.nodes.get(id)
        if (old === undefined) throw new NotFoundError(`node ${(req.params as P).id}`)
        return putNode({ ...old, ...(req.body as object) })
      },
    },
    {
      method: 'GET',
      url: '/nodes/:id/resources',
      summary:
        'Per resource: the version the node should run (and the release that says so) against what it runs',
      schema: byId,
      handler: async (req) => {
        const id = (req.params as P).id
        if (!inv.nodes.has(id)) throw new NotFoundError(`node ${id}`)
        return nodeResources(view, id)
      },
    },
    {
      method: 'DELETE',
      url: '/nodes/:id',
      summary: 'Delete a node (and its PeerId binding)',
      schema: byId,
      status: 204,
      handler: async (req) => {
        const id = (req.params as P).id
        // A node a live release still waits on MUST NOT be deleted (ERR_NODE_IN_RELEASE); its
        // queued commands go with it, in the same commit
        await commit((tx) => state.deleteNode(tx, id))
        channel.drop(id, 'node deleted')
      },
    },
    {
      method: 'GET',
      url: '/devices',
      summary: 'List devices',
      schema: list,
      handler: async (req) => limit(inv.devices.values(), req),
    },
    {
      method: 'POST',
      url: '/devices',
      summary: 'Create or replace a device',
      schema: { body: S.deviceBody },
      status: 201,
      handler: async (req) => {
        const b = req.body as Device
        return commit((tx) => {
          state.inventory.putDevice(tx, { ...b, labels: b.labels ?? [] })
          return b
        })
      },
    },
    {
      method: 'DELETE',
      url: '/devices/:id',
      summary: 'Delete a device',
      schema: byId,
      status: 204,
      handler: async (req) =>
        void (await commit((tx) => state.inventory.delete(tx, 'device', (req.params as P).id))),
    },
    {
      method: 'GET',
      url: '/resources',
      summary: 'List resources',
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
        'Per-node state of a release (optionally one state), with city and campus, by node id, a page at a time: { nodes, next? }; pass next as ?cursor for the page after. A compacted release lists only the late members that joined it since, and says { compacted: { at, nodes, counts } }',
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
        // a compacted release holds counts, not per-node states, but for late members since
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
      summary: 'pause | resume | abort | rollback',
      schema: { params: S.releaseOpParams },
      handler: async (req) => {
        const p = req.params as { id: string; op: 'pause' | 'resume' | 'abort' | 'rollback' }
        return engine.operate(p.id, p.op)
      },
    },
  ]
}
