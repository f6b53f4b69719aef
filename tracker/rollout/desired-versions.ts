/**
 * What a node *should* run of each resource ({@link desiredVersions}): what the newest (by
 * creation) completed release whose targets cover the node (its city, campus or labels; an
 * explicit node list covers only the ids it names) made current: its version, or for an A/B
 * release the side the node gets ({@link variantFor}). A completed release no node got
 * (`result.outcome` `failed`), an aborted and a rolled-back one do not count.
 *
 * A compacted release (`retention.ts`) that still decides decides as before: it keeps who
 * its members were and the A/B sides its hash rule does not give them.
 *
 * Read by reconciliation (`reconcile.ts`, `catch-up.ts`), which sends a node what it lacks
 * of it, and by the checks of what uses a version (`version-use.ts`).
 */
import type { NodeRecord, Release, Repositories } from '../state/index.ts'
import { sortedHas } from '../state/release-summary.ts'
import { matches, score, type TargetNode } from './select.ts'

/** What a node should run of one resource, and the release that says so. */
export interface DesiredVersion {
  resource: string
  version: number
  manifestCid: string
  releaseId: string
  variant: 'A' | 'B'
}

/** The repositories reconciliation reads: the writers' or the readers' (`committed`). */
export type View = Pick<Repositories, 'releases' | 'inventory'>

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
