/**
 * Reconciliation: a node converges to what its campus runs. A release's members are fixed
 * when it is created, so a node that enrolls later (a replacement machine, a new node), or
 * is moved into another campus, would get none of the versions already released there.
 *
 * The version a node *should* run of a resource ({@link desiredVersions}) is what the
 * newest (by creation) completed release whose targets cover the node (its city, campus or
 * labels; an explicit node list covers only the ids it names) made current: its version,
 * or for an A/B release the side the node gets ({@link variantFor}). A completed release no
 * node got (`result.outcome` `failed`), an aborted and a rolled-back one do not count.
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
import type { CurrentRef, NodeRecord, Release, Repositories, TrackerState, Tx } from '../state/index.ts'
import { sortedHas } from '../state/release-summary.ts'
import { NO_PROGRESS } from '../state/release-types.ts'
import type { Announce } from './engine-types.ts'
import { placeFields } from './place.ts'
import { refOf } from './revert.ts'
import { matches, score, type TargetNode } from './select.ts'

const log = logger('dandelion:tracker:reconcile')

/** What a node should run of one resource, and the release that says so. */
export interface DesiredVersion {
  resource: string
  version: number
  manifestCid: string
  releaseId: string
  variant: 'A' | 'B'
}

/** The repositories reconciliation reads: the writers' or the readers' (`committed`). */
type View = Pick<Repositories, 'releases' | 'inventory'>

/** States in which a command of a release to a node is out and not yet answered for good. */
export const UNANSWERED: ReadonlySet<string> = new Set(['pending', 'fetching', 'placed', 'reverting'])

/** The facts about `node` that targets are matched on. */
export function targetNodeOf(view: View, node: NodeRecord): TargetNode {
  return { id: node.id, campus: node.campus, city: view.inventory.cityOf(node), labels: node.labels }
}

/** Whether `r` is what its targets run: completed, and some node got it. */
export function inForce(r: Release): boolean {
  return r.status === 'completed' && (r.result === undefined || r.result.active > 0)
}

/**
 * The side of `r`'s A/B split `nodeId` gets: a member's own (kept by a compacted release as
 * the exceptions to the hash rule, `CompactedMembers.flipped`); for another node, its
 * {@link hashedVariant}. Stable: the same node always gets the same side.
 */
export function variantFor(view: View, r: Release, nodeId: string): 'A' | 'B' {
  const rn = view.releases.nodes.get(r.id)?.get(nodeId)
  if (rn !== undefined) return rn.variant
  const side = hashedVariant(r, nodeId)
  const kept = view.releases.membersOf(r.id)
  if (kept === undefined || !sortedHas(kept.flipped, nodeId)) return side
  return side === 'A' ? 'B' : 'A'
}

/**
 * The side of `r`'s A/B split a node that is not a member gets: B if its A/B hash (the one
 * `assignVariants` ranks members by) falls within the lowest `ab.percent` of the hash space.
 */
export function hashedVariant(r: Pick<Release, 'id' | 'ab'>, nodeId: string): 'A' | 'B' {
  if (r.ab === undefined) return 'A'
  // percent has at most a few decimals: micro-percent keeps the threshold exact in bigints
  const threshold = (2n ** 64n * BigInt(Math.round(r.ab.percent * 1_000_000))) / 100_000_000n
  return score('ab', nodeId, r.id) < threshold ? 'B' : 'A'
}

/**
 * What `nodeId` should run, per resource (of `only`, if given; see the module comment);
 * empty for an unknown node.
 */
export function desiredVersions(view: View, nodeId: string, only?: string): Map<string, DesiredVersion> {
  const out = new Map<string, DesiredVersion>()
  const node = view.inventory.nodes.get(nodeId)
  if (node === undefined) return out
  const target = targetNodeOf(view, node)
  const best = new Map<string, Release>()
  // per resource, its releases newest first (creation time, then id): the first that covers
  // the node and is in force
  for (const resource of only === undefined ? view.releases.resources() : [only]) {
    const r = view.releases.ofResource(resource).find((r) => inForce(r) && matches(target, r.targets))
    if (r !== undefined) best.set(resource, r)
  }
  for (const [resource, r] of best) {
    const variant = variantFor(view, r, nodeId)
    const v = variant === 'B' && r.ab !== undefined ? r.ab : r
    out.set(resource, { resource, version: v.version, manifestCid: v.manifestCid, releaseId: r.id, variant })
  }
  return out
}

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

/** What a node runs of one resource against what it should run (`GET /nodes/:id/resources`). */
export interface NodeResourceView {
  resource: string
  /**
   * What it should run, and the release that says so; null if no release covers it. `state`
   * is the node's there, absent if it is no member or the release is `compacted` (its
   * per-node states dropped).
   */
  desired:
    | (DesiredVersion & {
        state?: string
        joinedAt?: number
        compacted?: true
        /** A late member's catch-up attempts, once one failed (`catch-up.ts`). */
        attempts?: number
        /** Why and when its last catch-up attempt failed. */
        lastFailure?: { reason?: string; at: number }
        /** When its next catch-up attempt is due, while it waits for one. */
        retryAt?: number
      })
    | null
  /** What it runs, as last reported active; null if nothing known. */
  running: CurrentRef | null
  /** It runs the desired version (true when nothing is desired). */
  inSync: boolean
}

/** Per resource, what `nodeId` should run and what it runs, from `view` (the readers'). */
export function nodeResources(view: View, nodeId: string): NodeResourceView[] {
  const desired = desiredVersions(view, nodeId)
  const resources = new Set(desired.keys())
  for (const resource of view.releases.resourcesRun())
    if (view.releases.currentOf(nodeId, resource) !== undefined) resources.add(resource)
  return [...resources].sort().map((resource) => {
    const d = desired.get(resource)
    const running = view.releases.currentOf(nodeId, resource) ?? null
    const rn = d === undefined ? undefined : view.releases.nodes.get(d.releaseId)?.get(nodeId)
    const member = rn !== undefined && rn.deletedAt === undefined ? rn : undefined
    const compacted = d !== undefined && member === undefined && view.releases.get(d.releaseId).compacted
    return {
      resource,
      desired:
        d === undefined
          ? null
          : {
              ...d,
              state: member?.state,
              ...(member?.joinedAt ? { joinedAt: member.joinedAt } : {}),
              ...(member?.attempts === undefined ? {} : { attempts: member.attempts }),
              ...(member?.lastFailure === undefined ? {} : { lastFailure: member.lastFailure }),
              ...(member?.retryAt === undefined ? {} : { retryAt: member.retryAt }),
              ...(compacted ? { compacted: true as const } : {}),
            },
      running,
      inSync: d === undefined || (running?.version === d.version && running.manifestCid === d.manifestCid),
    }
  })
}
