/**
 * Reconciliation: a node converges to what its campus runs. A release's members are fixed
 * when it is created, so a node that enrolls later (a replacement machine, a new node), or
 * is moved into another campus, would get none of the versions already released there.
 *
 * What a node should run of each resource, and the release that says so, is
 * `desired-versions.ts` ({@link desiredVersions}); what it runs against that, as the API
 * shows it, `node-resources.ts`. Both are re-exported here.
 *
 * A node that runs something else is added to that release as a *late member*
 * ({@link ReleaseNode.joinedAt}) with a `place` through the outbox, like any member: ACK,
 * retransmit, dedup, outcome, deadline, status counts, and a rollback of the release
 * reverts it to what it ran before it joined. Nothing is sent to a node that already runs
 * the version, to a member of the release (a member that failed is the release's own
 * outcome: release again to retry it; a late member whose catch-up failed is retried with a
 * backoff, `catch-up.ts`), to a member of a live release of the resource (that
 * newer rollout decides what it runs), while a command of the resource to the node is
 * still unanswered (an earlier catch-up's), nor of a version removed since (`version-use.ts`:
 * the node keeps what it runs). A running release takes no new member: once it
 * completes, the nodes that came into its targets meanwhile join it.
 *
 * A compacted release (`retention.ts`) that still decides decides as before: it keeps who
 * its members were and the A/B sides its hash rule does not give them.
 */
import { logger } from '@libp2p/logger'
import { CapacityError } from '../errors.ts'
import type { CurrentRef, NodeRecord, Release, TrackerState, Tx } from '../state/index.ts'
import { NO_PROGRESS } from '../state/release-types.ts'
import { type DesiredVersion, desiredVersions, targetNodeOf } from './desired-versions.ts'
import type { Announce } from './engine-types.ts'
import { placeFields } from './place.ts'
import { refOf } from './revert.ts'
import { matches } from './select.ts'

export {
  type DesiredVersion,
  desiredVersions,
  hashedVariant,
  inForce,
  targetNodeOf,
  variantFor,
} from './desired-versions.ts'
export { type NodeResourceView, nodeResources } from './node-resources.ts'

const log = logger('dandelion:tracker:reconcile')

/** States in which a command of a release to a node is out and not yet answered for good. */
export const UNANSWERED: ReadonlySet<string> = new Set(['pending', 'fetching', 'placed', 'reverting'])

/**
 * Whether another release has `nodeId` for `resource` now: a command of it to the node is
 * unanswered, or the node is a member of a live (running or paused) release of it, whatever
 * its state there. Such a release is newer than any completed one whose catch-up could reach
 * the node (it took the node while that one ran): what the node runs is its to decide, and a
 * late `place` of the older version would undo it while it shows the node active.
 */
export function busy(state: TrackerState, nodeId: string, resource: string): boolean {
  for (const r of state.releases.ofResource(resource)) {
    const rn = state.releases.nodes.get(r.id)?.get(nodeId)
    if (rn === undefined || rn.deletedAt !== undefined) continue
    if (UNANSWERED.has(rn.state) || r.status === 'running' || r.status === 'paused') return true
  }
  return false
}

/** Components of reconciliation. */
export interface ReconcileComponents {
  state: TrackerState
  announce: Announce
}

/**
 * Queues, in `tx`, what `nodeId` lacks of what it should run (of `resource` only, if
 * given), each as a late member of the release that says so (`desired`: what
 * {@link desiredVersions} gives it, if the caller has it already). Returns the nodes given
 * commands (`[nodeId]` or none). Only an enrolled node is reconciled: a node pre-registered
 * through the API is reconciled when it enrolls. A node whose outbox is full is skipped
 * (logged), and reconciled again at its next connection.
 */
export function reconcileNode(
  c: ReconcileComponents,
  tx: Tx,
  nodeId: string,
  resource?: string,
  desired: Map<string, DesiredVersion> = desiredVersions(c.state, nodeId),
): string[] {
  const { state } = c
  const node = state.inventory.nodes.get(nodeId)
  if (node?.peerId === undefined) return []
  let touched = false
  for (const d of desired.values()) {
    if (resource !== undefined && d.resource !== resource) continue
    const r = state.releases.get(d.releaseId)
    // a member (not the entry of a deleted machine that had this id) is the release's own,
    // also once the release is compacted; unless it became one before the machine was
    // replaced (its binding released): the machine now bound never got it
    if (state.releases.isMember(r.id, nodeId) && !replacedSince(state, r, node)) continue
    const cur = state.releases.currentOf(nodeId, d.resource)
    if (cur !== undefined && cur.version === d.version && cur.manifestCid === d.manifestCid) continue
    if (busy(state, nodeId, d.resource)) continue
    // removed since no node of the inventory should run it (`version-use.ts`), and this one
    // came into the release's targets later: not served any more, the node keeps what it runs
    if (state.catalog.isRemoved(d.resource, d.version)) {
      log('%s is not sent %s v%d: the version was removed', nodeId, d.resource, d.version)
      continue
    }
    try {
      join(c, tx, r, nodeId, d, cur)
      touched = true
    } catch (err) {
      if (!(err instanceof CapacityError)) throw err
      log('cannot catch %s up on %s yet: %e', nodeId, d.resource, err)
    }
  }
  return touched ? [nodeId] : []
}

/**
 * Whether `node` became a member of `r` before its PeerId binding was last released
 * (`DELETE /nodes/:id/peer`): its state there (or the counts a compacted release folded it
 * into) is the replaced machine's. A member joins at `joinedAt`, or when `r` was created.
 */
function replacedSince(state: TrackerState, r: Release, node: NodeRecord): boolean {
  if (node.unboundAt === undefined) return false
  const rn = state.releases.nodes.get(r.id)?.get(node.id)
  return (rn?.joinedAt ?? r.createdAt) <= node.unboundAt
}

/**
 * Adds `nodeId` to `r` as a late member, with its `place` queued (the entry of a deleted or
 * replaced machine that had the id is replaced). Throws {@link CapacityError}, changing
 * nothing, if the node's outbox is full.
 */
function join(
  c: ReconcileComponents,
  tx: Tx,
  r: Release,
  nodeId: string,
  d: DesiredVersion,
  cur: CurrentRef | undefined,
): void {
  const { releases, outbox } = c.state
  // its side's version (`d` is that side's); `activateAt` long past for a completed release:
  // the node switches once placed
  const cmd = outbox.enqueue(tx, nodeId, placeFields(r, d.variant))
  // the entry of a deleted or replaced machine that had the id, replaced: a member already
  // counted in `total`, and in `joined` if it was a late one
  const replaced = releases.nodes.get(r.id)?.get(nodeId)
  releases.putNode(tx, r.id, {
    nodeId,
    stage: r.stages.length - 1,
    variant: d.variant,
    state: 'pending',
    cmdId: cmd.id,
    ...NO_PROGRESS,
    joinedAt: Date.now(),
    // what a rollback of `r` sends it back to
    prev: cur === undefined ? undefined : refOf(cur),
  })
  if (replaced === undefined) r.total++
  if (replaced?.joinedAt === undefined) r.joined = (r.joined ?? 0) + 1
  r.result = releases.resultOf(r)
  releases.put(tx, r)
  c.announce(tx, { type: 'release.node', releaseId: r.id, nodeId, state: 'pending', joined: true })
  log('%s joins release %s late: %s v%d', nodeId, r.id, r.resource, d.version)
}

/**
 * `r` has just completed (in `tx`): every enrolled node its targets cover that is not one
 * of its members (it enrolled, or was moved in, while `r` ran) is reconciled on `r`'s
 * resource. Returns the nodes given commands.
 */
export function catchUpRelease(c: ReconcileComponents, tx: Tx, r: Release): string[] {
  const { state } = c
  const members = state.releases.nodes.get(r.id)
  const touched: string[] = []
  for (const node of state.inventory.nodes.values()) {
    if (node.peerId === undefined) continue
    const rn = members?.get(node.id)
    if (rn !== undefined && rn.deletedAt === undefined) continue
    if (!matches(targetNodeOf(state, node), r.targets)) continue
    touched.push(...reconcileNode(c, tx, node.id, r.resource))
  }
  return touched
}
