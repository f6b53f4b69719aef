/**
 * Admin API routes of the inventory: cities, campuses, nodes and devices. A change that moves
 * nodes (a node's campus, a campus's city) queues, in its own commit, what they now lack of
 * what their campus runs (`rollout/reconcile.ts`).
 */
import { NotFoundError } from '../errors.ts'
import { healthView } from '../health/view.ts'
import { nodeResources } from '../rollout/node-resources.ts'
import type { Campus, City, Device, NodeRecord } from '../state/index.ts'
import { pageOf } from './pages.ts'
import { byId, limit, list, type P, type RouteContext, type RouteDef } from './route-kit.ts'
import * as S from './schemas.ts'

/** The inventory's routes. */
export function inventoryRoutes(c: RouteContext): RouteDef[] {
  const { state, engine, channel, view, commit, nodeEvents } = c
  const inv = view.inventory
  // `lastSeenAt`: now while connected, else when its channel last closed (or the tracker
  // stopped while it was connected); absent if it was never seen disconnecting. `health`: its
  // latest report since the tracker started (`health/`), absent if none
  const connectedNow = (n: NodeRecord): boolean => n.peerId !== undefined && channel.isConnected(n.id)
  const nodeView = (n: NodeRecord): unknown => {
    // an unbound node's last session is being closed (`DELETE /nodes/:id/peer`)
    const connected = connectedNow(n)
    const now = Date.now()
    const health = healthView(channel.health, n.id, connected, now)
    return {
      ...n,
      city: inv.cityOf(n),
      connected,
      lastSeenAt: connected ? now : n.lastSeenAt,
      ...(health === undefined ? {} : { health }),
    }
  }
  /** Whether node `id` needs attention by the rules of `health/attention.ts`. */
  const needsAttention = (id: string): boolean => {
    const n = inv.nodes.get(id)
    return n !== undefined && (healthView(channel.health, id, connectedNow(n))?.attention.length ?? 0) > 0
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
    nodeEvents.announce({ type: 'node.changed', nodeId: out.id, campus: out.campus, labels: out.labels })
    return nodeView(out)
  }
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
        const moved: string[] = []
        await commit((tx) => {
          const old = state.inventory.campuses.get(campus.id)
          state.inventory.putCampus(tx, campus)
          // Its nodes' city is read through the campus, so moving it moves them: they now
          // fall under the new city's releases (and out of the old one's), as a node moved
          // with PATCH /nodes/:id does. Queued in the same commit; before, nothing was sent
          // until each node happened to reconnect.
          if (old !== undefined && old.city !== campus.city)
            for (const n of state.inventory.nodes.values())
              if (n.campus === campus.id) {
                moved.push(n.id)
                touched.push(...engine.reconcile(tx, n.id))
              }
        })
        for (const id of touched) channel.deliver(id)
        for (const nodeId of moved)
          nodeEvents.announce({ type: 'node.changed', nodeId, campus: campus.id, city: campus.city })
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
        'List nodes with their city, connection state and health, by id, a page at a time: { nodes, next? }; pass next as ?cursor for the page after; ?attention=true: only nodes needing attention',
      schema: { querystring: S.nodeListQuery },
      // In pages after a cursor (`pages.ts`): before, one answer of at most 10,000 nodes, with
      // no way to the rest of a larger city. By id, so that nodes joining or leaving between
      // two pages shift nothing.
      handler: async (req) => {
        const q = req.query as { limit: number; cursor?: string; attention?: boolean }
        // the filter applies before paging, to the ids after the cursor as to the others
        const ids = q.attention === true ? inv.nodeIdsInOrder().filter(needsAttention) : inv.nodeIdsInOrder()
        const page = pageOf(ids, q.cursor, q.limit)
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
        nodeEvents.announce({ type: 'node.deleted', nodeId: id })
      },
    },
    {
      method: 'DELETE',
      url: '/nodes/:id/peer',
      summary:
        'Release a node’s PeerId binding for a machine replacing it: the next enrollment under its id binds; campus, labels and releases stay',
      schema: byId,
      // 200 with the node, unbound, also when it was not bound (nothing changes): the
      // operator sees what it kept; 404 for an unknown node
      handler: async (req) => {
        const id = (req.params as P).id
        const out = (await commit((tx) => {
          const unbound = state.unbindNode(tx, id)
          // the old machine is no longer this node: its session ends as the binding does, so
          // that no report of its (an ACK) lands on the commands now meant for the next one
          if (unbound.peerId !== undefined) channel.drop(id, 'peer binding released')
          // a `place` it was fetching waits, `pending`, for the next machine's ACK
          for (const { releaseId, nodeId } of unbound.reset)
            engine.announce(tx, { type: 'release.node', releaseId, nodeId, state: 'pending' })
          return unbound
        })) as { node: NodeRecord; peerId?: string }
        if (out.peerId !== undefined) {
          req.log.info({ nodeId: id, peerId: out.peerId }, 'node peer binding released')
          nodeEvents.announce({ type: 'node.unbound', nodeId: id, peerId: out.peerId })
        }
        return nodeView(out.node)
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
  ]
}
