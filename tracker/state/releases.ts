/**
 * Releases, the per-node state of each release, and the version each node currently runs
 * per resource (what a rollback returns to). A compacted release (`rollout/retention.ts`)
 * holds counts instead of its per-node states, and its members while it still decides what
 * nodes run (`release-summary.ts`). The types are in `release-types.ts`; the indexes by
 * resource and by node, in `release-indexes.ts`; what each node runs, in `running-versions.ts`.
 */
import { MAX_RELEASES } from '../constants.ts'
import { CapacityError, NotFoundError } from '../errors.ts'
import type { Kv, Tx } from './kv.ts'
import { ReleaseIndexes } from './release-indexes.ts'
import { type CompactedMembers, sortedHas } from './release-summary.ts'
import {
  type CurrentRef,
  NODE_DELETED,
  type Release,
  type ReleaseNode,
  type ReleaseResult,
  releaseResult,
} from './release-types.ts'
import { RunningVersions } from './running-versions.ts'

export type { CompactedMembers, ReleaseSummary, SparseCounts } from './release-summary.ts'
export * from './release-types.ts'

/** Options of {@link Releases}. */
export interface ReleasesInit {
  /** Most releases kept: creating one more is refused (`ERR_CAPACITY`). @default MAX_RELEASES */
  maxReleases?: number
}

/** Repository of releases. */
export class Releases {
  /** Most releases kept (see {@link ReleasesInit}). */
  readonly maxReleases: number
  readonly releases = new Map<string, Release>()
  readonly nodes = new Map<string, Map<string, ReleaseNode>>()
  /** What each node runs per resource ({@link currentOf}, `running-versions.ts`). */
  private readonly running = new RunningVersions()
  /** Release id by the `Idempotency-Key` it was created with. */
  private readonly byKey = new Map<string, string>()
  /** Releases by resource, withdrawn commands and catch-up retries by node (`release-indexes.ts`). */
  private readonly index = new ReleaseIndexes()
  /** The members of compacted releases that still decide what nodes run, by release id (`rm!`). */
  private readonly members = new Map<string, CompactedMembers>()

  constructor(init: ReleasesInit = {}) {
    this.maxReleases = init.maxReleases ?? MAX_RELEASES
  }

  async load(kv: Kv): Promise<void> {
    for (const prefix of ['rel!', 'rn!', 'rm!', 'cur!'])
      for await (const [k, v] of kv.entries(prefix)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(key: string, value: unknown): void {
    if (key.startsWith('rel!')) {
      const id = key.slice(4)
      const oldKey = this.releases.get(id)?.idempotency?.key
      if (oldKey !== undefined && this.byKey.get(oldKey) === id) this.byKey.delete(oldKey)
      const old = this.releases.get(id)
      if (value === undefined) {
        if (old !== undefined) this.index.removeRelease(old)
        this.releases.delete(id)
        return
      }
      const r = value as Release
      this.index.setRelease(r, old)
      this.releases.set(id, r)
      if (r.idempotency !== undefined) this.byKey.set(r.idempotency.key, id)
    } else if (key.startsWith('rn!')) {
      // rn!<release id, a UUID>!<node id>
      const bang = key.indexOf('!', 3)
      const releaseId = key.slice(3, bang)
      const nodeId = key.slice(bang + 1)
      this.index.setNode(releaseId, nodeId, value as ReleaseNode | undefined)
      if (value !== undefined) {
        this.nodesOf(releaseId).set(nodeId, value as ReleaseNode)
        return
      }
      const m = this.nodes.get(releaseId)
      m?.delete(nodeId)
      if (m?.size === 0) this.nodes.delete(releaseId)
    } else if (key.startsWith('rm!')) {
      if (value === undefined) this.members.delete(key.slice(3))
      else this.members.set(key.slice(3), value as CompactedMembers)
    } else if (key.startsWith('cur!')) {
      this.running.apply(key.slice(4), value)
    }
  }

  get(id: string): Release {
    const r = this.releases.get(id)
    if (r === undefined) throw new NotFoundError(`release ${id}`)
    return r
  }

  nodesOf(releaseId: string): Map<string, ReleaseNode> {
    let m = this.nodes.get(releaseId)
    if (m === undefined) {
      m = new Map()
      this.nodes.set(releaseId, m)
    }
    return m
  }

  put(tx: Tx, release: Release): void {
    if (!this.releases.has(release.id) && this.releases.size >= this.maxReleases)
      throw new CapacityError(
        `too many releases (${this.releases.size}): the tracker keeps every release that runs, finished within the retention period or still decides what nodes run (see tracker/README.md, Limits)`,
      )
    release.updatedAt = Date.now()
    this.index.setRelease(release, this.releases.get(release.id))
    this.releases.set(release.id, release)
    if (release.idempotency !== undefined) this.byKey.set(release.idempotency.key, release.id)
    tx.put(`rel!${release.id}`, release)
  }

  /**
   * Sets a node's state in a release. `node` is shared with the readers' copy once written
   * (`Tx.putShared`): never change it after, put a changed copy.
   */
  putNode(tx: Tx, releaseId: string, node: ReleaseNode): void {
    this.nodesOf(releaseId).set(node.nodeId, node)
    this.index.setNode(releaseId, node.nodeId, node)
    tx.putShared(`rn!${releaseId}!${node.nodeId}`, node)
  }

  /**
   * Removes a release, its per-node state and its compacted members. What nodes run
   * ({@link currentOf}) is kept: it stays what they run whichever release brought it.
   */
  delete(tx: Tx, id: string): void {
    this.dropNodes(tx, id, [...(this.nodes.get(id)?.keys() ?? [])])
    this.setMembers(tx, id, undefined)
    const key = this.releases.get(id)?.idempotency?.key
    if (key !== undefined && this.byKey.get(key) === id) this.byKey.delete(key)
    const old = this.releases.get(id)
    if (old !== undefined) this.index.removeRelease(old)
    this.releases.delete(id)
    tx.del(`rel!${id}`)
  }

  /** Removes the per-node states of `nodeIds` from release `id` (compaction folded them into counts). */
  dropNodes(tx: Tx, id: string, nodeIds: Iterable<string>): void {
    const m = this.nodes.get(id)
    for (const nodeId of nodeIds) {
      tx.del(`rn!${id}!${nodeId}`)
      this.index.setNode(id, nodeId, undefined)
      m?.delete(nodeId)
    }
    if (m?.size === 0) this.nodes.delete(id)
  }

  /**
   * The members kept of compacted release `id` (see {@link CompactedMembers}); undefined if
   * it is not compacted, or decides nothing (any more).
   */
  membersOf(id: string): CompactedMembers | undefined {
    return this.members.get(id)
  }

  /**
   * Sets (undefined: drops) the members kept of a compacted release. `members` is shared
   * with the readers like {@link putNode}'s nodes: never change it after, put a new one.
   */
  setMembers(tx: Tx, id: string, members: CompactedMembers | undefined): void {
    if (members === undefined) {
      if (this.members.delete(id)) tx.del(`rm!${id}`)
      return
    }
    this.members.set(id, members)
    tx.putShared(`rm!${id}`, members)
  }

  /**
   * Whether `nodeId` is a member of release `id`: it has a state there that is not a deleted
   * machine's, or the release was compacted with it among the members it keeps.
   */
  isMember(id: string, nodeId: string): boolean {
    const rn = this.nodes.get(id)?.get(nodeId)
    if (rn !== undefined) return rn.deletedAt === undefined
    return sortedHas(this.members.get(id)?.ids, nodeId)
  }

  /** How `r`'s nodes ended ({@link releaseResult}), its compacted counts included. */
  resultOf(r: Release): ReleaseResult {
    return releaseResult(this.nodes.get(r.id)?.values() ?? [], r.status, r.compacted)
  }

  /**
   * A node was deleted, and with it the commands `dropped` (ids) of its outbox. Where one of
   * them is what a release waits on, the node will never report on it: it counts as failed.
   * A release with a {@link Release.result} (completed, or aborted) counts it so (a late
   * member deleted before it answered, a node still fetching when the release was aborted).
   * Every entry of the node is marked {@link ReleaseNode.deletedAt}, and what it ran is
   * forgotten: a machine enrolled later under its id starts from nothing (it runs nothing
   * the tracker knows of, so reconciliation sends it what its campus runs). Compacted
   * releases no longer count it among their members (their counts keep its state).
   */
  nodeDeleted(tx: Tx, nodeId: string, dropped: ReadonlySet<string>, now = Date.now()): void {
    const ended: Release[] = []
    for (const [releaseId, m] of [...this.members]) {
      if (!sortedHas(m.ids, nodeId)) continue
      const ids = m.ids.filter((id) => id !== nodeId)
      const flipped = m.flipped?.filter((id) => id !== nodeId)
      this.setMembers(tx, releaseId, {
        ids,
        ...(flipped !== undefined && flipped.length > 0 ? { flipped } : {}),
      })
    }
    for (const [releaseId, m] of this.nodes) {
      const r = this.releases.get(releaseId)
      const rn = m.get(nodeId)
      if (rn === undefined || rn.deletedAt !== undefined) continue
      const gone = rn.cmdId !== undefined && dropped.has(rn.cmdId)
      // a changed copy, never a change in place: the readers share the written object; a
      // catch-up retry it waited for is off (`rollout/catch-up.ts`)
      const { retryAt: _, ...kept } = rn
      this.putNode(
        tx,
        releaseId,
        gone
          ? { ...kept, state: 'failed', reason: NODE_DELETED, deletedAt: now }
          : { ...kept, deletedAt: now },
      )
      // a release that says how its nodes ended (a completed one waiting on a late member's
      // place, an aborted one on a node still fetching) ends differently now
      if (gone && (r?.status === 'completed' || r?.status === 'aborted') && r.result !== undefined)
        ended.push(r)
    }
    for (const r of ended) {
      r.result = this.resultOf(r)
      this.put(tx, r)
    }
    this.running.forgetNode(tx, nodeId)
  }

  /**
   * Ids of the releases holding `nodeId` `withdrawn` with the withdrawn command's sequence
   * ({@link ReleaseNode.withdrawnSeq}) still to be checked at its next hello. A copy.
   */
  withdrawnAwaitingHello(nodeId: string): string[] {
    return this.index.withdrawnAwaitingHello(nodeId)
  }

  /**
   * Ids of the releases where `nodeId` is a late member waiting for a catch-up retry
   * ({@link ReleaseNode.retryAt}). A copy.
   */
  retryingOf(nodeId: string): string[] {
    return this.index.retryingOf(nodeId)
  }

  /** The nodes waiting for a catch-up retry in some release. A copy. */
  retryingNodes(): string[] {
    return this.index.retryingNodes()
  }

  /** The resources that have releases. */
  resources(): IterableIterator<string> {
    return this.index.resources()
  }

  /** The resources some node has been recorded running (whether or not a release of it is kept). */
  resourcesRun(): ReadonlySet<string> {
    return this.running.resources()
  }

  /** The releases of `resource`, newest first (creation time, then id). Do not change it. */
  ofResource(resource: string): readonly Release[] {
    return this.index.ofResource(resource)
  }

  /** The release created with this `Idempotency-Key`, if any. */
  byIdempotencyKey(key: string): Release | undefined {
    const id = this.byKey.get(key)
    return id === undefined ? undefined : this.releases.get(id)
  }

  /** Version a node runs for a resource, as last reported active. */
  currentOf(nodeId: string, resource: string): CurrentRef | undefined {
    return this.running.get(nodeId, resource)
  }

  /** Sets what a node runs. `ref` is shared with the readers' copy like {@link putNode}'s: never change it after. */
  setCurrent(tx: Tx, nodeId: string, resource: string, ref: CurrentRef | undefined): void {
    this.running.set(tx, nodeId, resource, ref)
  }
}
