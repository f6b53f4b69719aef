/**
 * The indexes the releases' repository (`releases.ts`) keeps beside its maps, so that a
 * hello, the catch-up retry sweep and reconciliation look up what concerns one node or one
 * resource instead of walking every release: releases by resource, newest first; by node,
 * the releases that withdrew a command from it its next hello is to be checked against; by
 * node, the releases where it waits for a catch-up retry. Kept as each write is applied, so
 * a load rebuilds them.
 */
import { newerRelease, type Release, type ReleaseNode } from './release-types.ts'

/** See the module comment. */
export class ReleaseIndexes {
  /**
   * By node id, the releases that withdrew a command from it whose sequence its next hello
   * is still to be checked against (`rollout/withdraw.ts`): a hello looks up its own, not
   * every release.
   */
  private readonly withdrawnBy = new Map<string, Set<string>>()
  /**
   * By node id, the releases where it is a late member waiting for a catch-up retry
   * ({@link ReleaseNode.retryAt}, `rollout/catch-up.ts`): the retry sweep and a hello look
   * up these, not every release.
   */
  private readonly retryBy = new Map<string, Set<string>>()
  /**
   * Releases by resource, newest first (creation time, then id): what a node should run and
   * whether another release has it are looked up among its resource's releases, newest
   * first, at each hello (`rollout/desired-versions.ts`, `rollout/reconcile.ts`), not by
   * walking every release.
   */
  private readonly byResource = new Map<string, Release[]>()

  /** Indexes `node`, the state of `nodeId` in release `releaseId` (undefined: it was removed). */
  setNode(releaseId: string, nodeId: string, node: ReleaseNode | undefined): void {
    const withdrawn =
      node?.state === 'withdrawn' &&
      node.withdrawnSeq !== undefined &&
      node.cmdId !== undefined &&
      node.deletedAt === undefined
    mark(this.withdrawnBy, nodeId, releaseId, withdrawn)
    mark(this.retryBy, nodeId, releaseId, node?.retryAt !== undefined && node.deletedAt === undefined)
  }

  /** Puts `r` in its resource's list, in place of `old`, the stored object of its id if any. */
  setRelease(r: Release, old: Release | undefined): void {
    // changed in place: a release's resource and creation time never change
    if (old === r) return
    if (old !== undefined) this.removeRelease(old)
    const list = this.byResource.get(r.resource)
    if (list === undefined) {
      this.byResource.set(r.resource, [r])
      return
    }
    // a new release is the newest as a rule: its place is found from the front
    let i = 0
    while (i < list.length && !newerRelease(r, list[i])) i++
    list.splice(i, 0, r)
  }

  /** Takes `old`, a stored release, out of its resource's list. */
  removeRelease(old: Release): void {
    const list = this.byResource.get(old.resource)
    const i = list?.findIndex((r) => r.id === old.id) ?? -1
    if (list === undefined || i < 0) return
    list.splice(i, 1)
    if (list.length === 0) this.byResource.delete(old.resource)
  }

  /** See `Releases.withdrawnAwaitingHello`. A copy. */
  withdrawnAwaitingHello(nodeId: string): string[] {
    return [...(this.withdrawnBy.get(nodeId) ?? [])]
  }

  /** See `Releases.retryingOf`. A copy. */
  retryingOf(nodeId: string): string[] {
    return [...(this.retryBy.get(nodeId) ?? [])]
  }

  /** See `Releases.retryingNodes`. A copy. */
  retryingNodes(): string[] {
    return [...this.retryBy.keys()]
  }

  /** The resources that have releases. */
  resources(): IterableIterator<string> {
    return this.byResource.keys()
  }

  /** The releases of `resource`, newest first. Do not change it. */
  ofResource(resource: string): readonly Release[] {
    return this.byResource.get(resource) ?? []
  }
}

/** Adds (`on`) or removes release `releaseId` from the set of `nodeId` in `index`. */
function mark(index: Map<string, Set<string>>, nodeId: string, releaseId: string, on: boolean): void {
  const ids = index.get(nodeId)
  if (on) {
    if (ids === undefined) index.set(nodeId, new Set([releaseId]))
    else ids.add(releaseId)
  } else if (ids?.delete(releaseId) === true && ids.size === 0) index.delete(nodeId)
}
