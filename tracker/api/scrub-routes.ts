/**
 * Admin API routes that ask nodes to scrub their on-disk stores now (a campus node sits
 * behind its school's NAT: its own API is out of reach, the command channel is not). Each
 * target node is queued a `scrub` command in its outbox, so the request survives a tracker
 * restart and the node's reconnects, is retransmitted until ACKed and deduped by the node;
 * what became of it is the node's scrub record (`state/scrubs.ts`): queued, received, done
 * with what the pass found, or failed with why. A node whose last scrub has not ended yet
 * is not queued another: the request joins it (a pass reads the whole store). Changes need
 * the admin token or an admin operator's; the audit trail names who asked.
 */
import { NotFoundError } from '../errors.ts'
import { type ScrubRecord, scrubOutstanding, type TrackerState, type Tx } from '../state/index.ts'
import { callerOf } from './auth.ts'
import { byId, type P, type RouteContext, type RouteDef } from './route-kit.ts'
import * as S from './schemas.ts'

/** What `POST /scrubs` names. */
interface ScrubTargets {
  nodes?: string[]
  campuses?: string[]
  cities?: string[]
}

/** The node ids `t` names, in inventory order; throws {@link NotFoundError} for an id not there. */
function targetNodes(state: TrackerState, t: ScrubTargets): string[] {
  const inv = state.inventory
  for (const id of t.nodes ?? []) if (!inv.nodes.has(id)) throw new NotFoundError(`node ${id}`)
  for (const id of t.campuses ?? []) if (!inv.campuses.has(id)) throw new NotFoundError(`campus ${id}`)
  for (const id of t.cities ?? []) if (!inv.cities.has(id)) throw new NotFoundError(`city ${id}`)
  const nodes = new Set(t.nodes)
  const campuses = new Set(t.campuses)
  const cities = new Set(t.cities)
  return inv.nodeIdsInOrder().filter((id) => {
    const n = inv.nodes.get(id)!
    if (nodes.has(id)) return true
    if (n.campus !== undefined && campuses.has(n.campus)) return true
    const city = inv.cityOf(n)
    return city !== undefined && cities.has(city)
  })
}

/**
 * Queues a scrub for each of `nodeIds` in `tx`, all or none (a full outbox refuses the
 * whole request with `CapacityError`); a node whose last scrub is still out keeps it.
 * Returns each node's record, and the nodes queued a command (to deliver once committed).
 */
function queueScrubs(
  state: TrackerState,
  tx: Tx,
  nodeIds: string[],
  by: string,
): { records: ScrubRecord[]; queued: string[] } {
  const { outbox, scrubs } = state
  const pending = (id: string): ScrubRecord | undefined => {
    const r = scrubs.get(id)
    // its command still in the outbox: it will end (a node deleted and enrolled again lost it)
    return r !== undefined && scrubOutstanding(r.state) && outbox.byCommand(r.cmdId) !== undefined
      ? r
      : undefined
  }
  const fresh = nodeIds.filter((id) => pending(id) === undefined)
  for (const id of fresh) outbox.checkRoom(id)
  const now = Date.now()
  for (const id of fresh) {
    const cmd = outbox.enqueue(tx, id, { op: 'scrub' })
    scrubs.request(tx, id, cmd.id, by, now)
  }
  return { records: nodeIds.map((id) => scrubs.get(id)!), queued: fresh }
}

/** The scrub routes. */
export function scrubRoutes(c: RouteContext): RouteDef[] {
  const { state, channel, view, commit } = c
  const request = async (actor: string, nodeIds: string[]): Promise<ScrubRecord[]> => {
    let queued: string[] = []
    const records = (await commit((tx) => {
      const out = queueScrubs(state, tx, nodeIds, actor)
      queued = out.queued
      return out.records
    })) as ScrubRecord[]
    for (const id of queued) channel.deliver(id)
    return records
  }
  return [
    {
      method: 'POST',
      url: '/nodes/:id/scrub',
      summary:
        'Ask a node to scrub its on-disk store now (a scrub command through its outbox); answers its scrub record, joining the scrub still out if there is one',
      schema: byId,
      bodyOptional: true,
      status: 202,
      handler: async (req) => {
        const { id } = req.params as P
        const [record] = await request(callerOf(req)?.actor ?? 'unknown', targetNodes(state, { nodes: [id] }))
        return record
      },
    },
    {
      method: 'POST',
      url: '/scrubs',
      summary:
        'Ask nodes to scrub now, named or every node of campuses or cities: { scrubs: each node’s scrub record }',
      schema: { body: S.scrubBody },
      status: 202,
      handler: async (req) => {
        const ids = targetNodes(state, req.body as ScrubTargets)
        return { scrubs: await request(callerOf(req)?.actor ?? 'unknown', ids) }
      },
    },
    {
      method: 'GET',
      url: '/nodes/:id/scrub',
      summary: 'The last scrub asked of a node, and what it found or why it failed',
      schema: byId,
      handler: async (req) => {
        const { id } = req.params as P
        const r = view.scrubs.get(id)
        if (r === undefined) throw new NotFoundError(`scrub of node ${id}`)
        return r
      },
    },
    {
      method: 'GET',
      url: '/scrubs',
      summary: 'The last scrub asked of each node (one record per node): { scrubs }',
      handler: async () => ({ scrubs: [...view.scrubs.values()] }),
    },
  ]
}
