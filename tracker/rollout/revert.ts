/**
 * Rollback of a release: every node it reached goes back to what it ran before (recorded
 * per node at creation), unless it has moved on since or was deleted.
 */
import { ReleaseSupersededError } from '../errors.ts'
import type { CurrentRef, Release, ReleaseNode, TrackerState, Tx, VersionRef } from '../state/index.ts'
import { NODE_DELETED } from '../state/releases.ts'

/**
 * Sends every commanded node back to what it ran before (still pinned there), unless it
 * has moved on since, or a newer release's `place` to it is out: its `prev` is then stale,
 * and sending it would undo the newer release behind its back while the tracker still
 * shows that release active (or fail it as superseded). Such nodes
 * are left alone, with the reason on their node state; if no node is left to revert, the
 * rollback is refused with {@link ReleaseSupersededError} and nothing changes.
 */
export function revertRelease(state: TrackerState, tx: Tx, r: Release): string[] {
  const touched: string[] = []
  const movedOn = new Map<ReleaseNode, string>()
  const toRevert: ReleaseNode[] = []
  const deleted: ReleaseNode[] = []
  const newer = newerReleases(state, r)
  for (const rn of state.releases.nodesOf(r.id).values()) {
    // never sent (waiting), withdrawn by an abort before it reached the node, or back already
    if (
      rn.state === 'waiting' ||
      rn.state === 'withdrawn' ||
      rn.state === 'reverted' ||
      rn.state === 'reverting'
    )
      continue
    // a node deleted since has no outbox left: a command queued for it would wait for ever,
    // and reach whatever machine is enrolled under its id later (which is not the machine
    // this entry is about: `deletedAt`)
    if (!state.inventory.nodes.has(rn.nodeId) || rn.deletedAt !== undefined) {
      if (rn.reason !== NODE_DELETED) deleted.push(rn)
      continue
    }
    const now = comingTo(state, newer, rn.nodeId) ?? movedOnTo(state, r, rn)
    if (now !== undefined) movedOn.set(rn, now)
    else toRevert.push(rn)
  }
  // nothing was changed yet if nothing is reverted: throwing leaves the release as it was
  if (toRevert.length === 0 && movedOn.size > 0)
    throw new ReleaseSupersededError(r.id, [...new Set(movedOn.values())])
  // All or nothing, like issueStage: memory changes as commands are queued and is not rolled
  // back, so a full outbox must refuse the rollback before anything changes (found partway,
  // it left nodes 'reverting' with their revert never sent, and their place still on disk).
  for (const rn of toRevert) state.outbox.checkRoom(rn.nodeId, rn.state === 'pending' ? rn.cmdId : undefined)
  for (const rn of toRevert) {
    // a node that has not ACKed its `place` (typically offline) need not download a
    // version being rolled back; the revert below supersedes it if it got it anyway
    if (rn.state === 'pending' && rn.cmdId !== undefined) state.outbox.cancel(tx, rn.nodeId, rn.cmdId)
    const cmd = state.outbox.enqueue(tx, rn.nodeId, {
      op: rn.prev === undefined ? 'deactivate' : 'activate',
      resource: r.resource,
      version: rn.prev?.version ?? 0,
      manifestCid: rn.prev?.manifestCid ?? '-',
      releaseId: r.id,
    })
    state.releases.putNode(tx, r.id, { ...rn, state: 'reverting', cmdId: cmd.id })
    touched.push(rn.nodeId)
  }
  for (const [rn, now] of movedOn)
    state.releases.putNode(tx, r.id, { ...rn, reason: `not rolled back: moved on to ${now}` })
  for (const rn of deleted)
    state.releases.putNode(tx, r.id, { ...rn, reason: `not rolled back: ${NODE_DELETED}` })
  return touched
}

/** States in which a release's command to a node is out and not yet answered for good. */
const IN_FLIGHT = new Set(['pending', 'fetching', 'placed'])

/** The other releases of `r`'s resource created after it, newest first. */
function newerReleases(state: TrackerState, r: Release): Release[] {
  return state.releases
    .ofResource(r.resource)
    .filter((o) => o.id !== r.id && o.createdAt >= r.createdAt)
    .sort((a, b) => b.createdAt - a.createdAt)
}

/**
 * The newer release whose `place` to `nodeId` is out and unanswered, if any: the node is
 * being moved on by it. A revert queued now would land after that place, take the resource
 * back under the newer rollout and make it fail there (`superseded`); the newer one is the
 * release to roll back instead.
 */
function comingTo(state: TrackerState, newer: Release[], nodeId: string): string | undefined {
  for (const o of newer) {
    const rn = state.releases.nodes.get(o.id)?.get(nodeId)
    if (rn === undefined || !IN_FLIGHT.has(rn.state)) continue
    const version = rn.variant === 'B' && o.ab !== undefined ? o.ab.version : o.version
    return `release ${o.id} (v${version}, in progress)`
  }
  return undefined
}

/**
 * What `rn`'s node runs now if it has moved on from `r` (by a later release or another
 * rollback); undefined if it still runs `r`, or never switched to it and still runs what
 * it ran before.
 */
function movedOnTo(state: TrackerState, r: Release, rn: ReleaseNode): string | undefined {
  const cur = state.releases.currentOf(rn.nodeId, r.resource)
  if (rn.state === 'active') {
    if (cur?.releaseId === r.id) return undefined
    // state written before rollbacks restored the release id: the version tells
    const mine: VersionRef = rn.variant === 'B' && r.ab !== undefined ? r.ab : r
    if (cur !== undefined && cur.releaseId === undefined && sameVersion(cur, mine)) return undefined
  } else if (sameVersion(cur, rn.prev)) return undefined
  if (cur === undefined) return 'nothing'
  return cur.releaseId === undefined ? `v${cur.version}` : `release ${cur.releaseId} (v${cur.version})`
}

/** A copy of `ref` without an absent release id (kept out of the stored JSON). */
export function refOf(ref: CurrentRef): CurrentRef {
  const out: CurrentRef = { version: ref.version, manifestCid: ref.manifestCid }
  if (ref.releaseId !== undefined) out.releaseId = ref.releaseId
  return out
}

/** Whether two (possibly absent) references name the same version. */
function sameVersion(a: VersionRef | undefined, b: VersionRef | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  return a.version === b.version && a.manifestCid === b.manifestCid
}
