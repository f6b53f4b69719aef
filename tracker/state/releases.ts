/**
 * Releases, the per-node state of each release, and the version each node currently runs
 * per resource (what a rollback returns to).
 */
import { MAX_RELEASES } from '../constants.ts'
import { CapacityError, NotFoundError } from '../errors.ts'
import type { ReleaseTargets } from '../rollout/select.ts'
import type { Kv, Tx } from './kv.ts'

/** One stage: the cumulative percentage of targets reached, and how it is left. */
export interface StageSpec {
  percent: number
  /** `auto`: advance once `successRatio` of the stage's nodes succeeded; `manual`: hold for an operator. */
  gate: 'auto' | 'manual'
  successRatio?: number
}

/** Lifecycle of a release. */
export type ReleaseStatus = 'running' | 'paused' | 'completed' | 'aborted' | 'rolled_back'

/** A version reference. */
export interface VersionRef {
  version: number
  manifestCid: string
}

/** A release. */
export interface Release {
  id: string
  resource: string
  version: number
  manifestCid: string
  /** Optional A/B split: `percent` of the targets get version B. */
  ab?: VersionRef & { percent: number }
  targets: ReleaseTargets
  stages: StageSpec[]
  /** Nodes switch at this time (epoch ms) after fetching and pinning; absent = when placed. */
  activateAt?: number
  /**
   * The `Idempotency-Key` the release was created with, and a fingerprint of the request
   * ({@link Releases.byIdempotencyKey}): a retried create answers with this release.
   */
  idempotency?: { key: string; fingerprint: string }
  /**
   * How long a node has, from its ACK, to report an outcome before it counts as failed
   * (reason {@link OUTCOME_TIMEOUT}). Absent in releases created before it existed: the
   * default applies. @default DEFAULT_OUTCOME_TIMEOUT_MS
   */
  outcomeTimeoutMs?: number
  status: ReleaseStatus
  /**
   * Set when the release completes: how its nodes ended. `completed` only says that no node
   * is left to wait on; this says whether they got the version. Also set when it is aborted
   * (how the nodes it had reached ended, and how many it withdrew from), and updated by the
   * outcomes of commands still out then.
   */
  result?: ReleaseResult
  /** Highest stage whose commands were issued; -1 before the first. */
  stage: number
  /** Number of member nodes: the targets resolved at creation, plus late members ({@link joined}). */
  total: number
  /**
   * Nodes added after creation by reconciliation (`rollout/reconcile.ts`): nodes that enrolled
   * into, or were moved into, the release's targets once it had completed. Absent: none.
   */
  joined?: number
  createdAt: number
  updatedAt: number
}

/** How the nodes of a completed or aborted release ended (see {@link Release.result}). */
export interface ReleaseResult {
  /**
   * `succeeded`: every node active (a completed release's late members may still be on their
   * way); `partial`: some active, some not (failed; in an aborted release also withdrawn,
   * never reached, or still on its way); `failed`: none active. See {@link releaseResult}.
   */
  outcome: 'succeeded' | 'partial' | 'failed'
  active: number
  failed: number
  /** Of `failed`, the nodes that reported no outcome before their deadline. */
  timedOut: number
  /**
   * Nodes whose command was withdrawn when the release was aborted ({@link NodeState}
   * `withdrawn`): counted neither as failed nor as active. Absent: none (a completed
   * release never has any).
   */
  withdrawn?: number
}

/** Where a node is in a release. */
export type NodeState =
  | 'waiting'
  | 'pending'
  | 'fetching'
  | 'placed'
  | 'active'
  | 'failed'
  | 'reverting'
  | 'reverted'
  /**
   * The release was aborted while its command waited, unACKed, for the node, offline then:
   * the command was withdrawn from its outbox, never delivered (see `rollout/withdraw.ts`).
   */
  | 'withdrawn'

/** Per-node state of a release. */
export interface ReleaseNode {
  nodeId: string
  stage: number
  variant: 'A' | 'B'
  state: NodeState
  cmdId?: string
  reason?: string
  /** When the node ACKed its `place` (epoch ms): its outcome deadline counts from here. */
  ackedAt?: number
  /**
   * When its outcome deadline passed with no outcome (epoch ms). Kept if the node reports
   * later (a late outcome): its state is then what it reported, counted once.
   */
  timedOutAt?: number
  percent: number
  peerBytes: number
  originBytes: number
  /**
   * Set on a late member (epoch ms): the node was added to the release after its creation,
   * by reconciliation (`rollout/reconcile.ts`), because the release is what its campus runs.
   */
  joinedAt?: number
  /**
   * Set when the release was aborted while its `place` to the node waited, unACKed, in the
   * outbox of the node, offline then (epoch ms): the command was withdrawn from the outbox.
   * Kept if the node turns out to have received it before (its ACK was lost): its state is
   * then what it reports.
   */
  withdrawnAt?: number
  /**
   * The sequence number the withdrawn command had. A node whose hello reports a `lastSeq`
   * at or above it received it before the abort (a node records a command, and its
   * sequence, before it ACKs): see `rollout/withdraw.ts`.
   */
  withdrawnSeq?: number
  /**
   * Set when the node was deleted from the inventory (epoch ms): this entry is the deleted
   * machine's. A machine enrolled later under the same id is not it (it is not reverted on
   * its behalf, and reconciliation may replace the entry with a late member's).
   */
  deletedAt?: number
  /**
   * What the node ran before this release (rollback target); absent = nothing. `releaseId`
   * is the release that brought it, restored as the node's current release on rollback.
   */
  prev?: CurrentRef
}

/** What a node runs for a resource, and the release that brought it (absent if unknown). */
export type CurrentRef = VersionRef & { releaseId?: string }

/** Reason given on a release's node state for a node that reported no outcome in time. */
export const OUTCOME_TIMEOUT = 'timeout'

/** Whether `rn` failed because its outcome deadline passed, and has not reported since. */
export function isTimedOut(rn: ReleaseNode): boolean {
  return rn.state === 'failed' && rn.reason === OUTCOME_TIMEOUT && rn.timedOutAt !== undefined
}

/**
 * How the nodes of a release ended (see {@link ReleaseResult}): set when it completes or is
 * aborted. A completed release `succeeded` if no node failed (a late member still on its way
 * is no failure). An aborted one did only if every node is active: a node it withdrew from,
 * never reached (`waiting`), or whose command is still out, is left short of it.
 */
export function releaseResult(nodes: Iterable<ReleaseNode>, status: ReleaseStatus): ReleaseResult {
  let active = 0
  let failed = 0
  let timedOut = 0
  let withdrawn = 0
  let others = 0
  for (const n of nodes) {
    if (n.state === 'active') active++
    else if (n.state === 'withdrawn') withdrawn++
    else if (n.state === 'failed') {
      failed++
      if (isTimedOut(n)) timedOut++
    } else others++
  }
  // a withdrawn node is no failure, and no success either
  const short = failed + withdrawn + (status === 'aborted' ? others : 0)
  const outcome = short === 0 ? 'succeeded' : active === 0 ? 'failed' : 'partial'
  const result: ReleaseResult = { outcome, active, failed, timedOut }
  if (withdrawn > 0) result.withdrawn = withdrawn
  return result
}

/** Whether `a` was created after `b` (the release id breaks a tie, so the order is stable). */
export function newerRelease(a: Release, b: Release): boolean {
  return a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id)
}

/** Reason given on a release's node state for a node deleted from the inventory. */
export const NODE_DELETED = 'node deleted'

/** Repository of releases. */
export class Releases {
  readonly releases = new Map<string, Release>()
  readonly nodes = new Map<string, Map<string, ReleaseNode>>()
  private readonly current = new Map<string, CurrentRef>()
  /** Release id by the `Idempotency-Key` it was created with. */
  private readonly byKey = new Map<string, string>()
  /**
   * By node id, the releases that withdrew a command from it whose sequence its next hello
   * is still to be checked against (`rollout/withdraw.ts`): a hello looks up its own, not
   * every release.
   */
  private readonly withdrawnBy = new Map<string, Set<string>>()
  /**
   * Releases by resource, newest first (creation time, then id): what a node should run and
   * whether another release has it are looked up among its resource's releases, newest
   * first, at each hello (`rollout/reconcile.ts`), not by walking every release.
   */
  private readonly byResource = new Map<string, Release[]>()

  async load(kv: Kv): Promise<void> {
    for (const prefix of ['rel!', 'rn!', 'cur!'])
      for await (const [k, v] of kv.entries(prefix)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(key: string, value: unknown): void {
    if (key.startsWith('rel!')) {
      const id = key.slice(4)
      const oldKey = this.releases.get(id)?.idempotency?.key
      if (oldKey !== undefined && this.byKey.get(oldKey) === id) this.byKey.delete(oldKey)
      if (value === undefined) {
        this.unindexResource(id)
        this.releases.delete(id)
        return
      }
      const r = value as Release
      this.indexResource(r)
      this.releases.set(id, r)
      if (r.idempotency !== undefined) this.byKey.set(r.idempotency.key, id)
    } else if (key.startsWith('rn!')) {
      // rn!<release id, a UUID>!<node id>
      const bang = key.indexOf('!', 3)
      const releaseId = key.slice(3, bang)
      const nodeId = key.slice(bang + 1)
      this.indexWithdrawn(releaseId, nodeId, value as ReleaseNode | undefined)
      if (value !== undefined) {
        this.nodesOf(releaseId).set(nodeId, value as ReleaseNode)
        return
      }
      const m = this.nodes.get(releaseId)
      m?.delete(nodeId)
      if (m?.size === 0) this.nodes.delete(releaseId)
    } else if (key.startsWith('cur!')) {
      if (value === undefined) this.current.delete(key.slice(4))
      else this.current.set(key.slice(4), value as CurrentRef)
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
    if (!this.releases.has(release.id) && this.releases.size >= MAX_RELEASES)
      throw new CapacityError('too many releases')
    release.updatedAt = Date.now()
    this.indexResource(release)
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
    this.indexWithdrawn(releaseId, node.nodeId, node)
    tx.putShared(`rn!${releaseId}!${node.nodeId}`, node)
  }

  /**
   * Removes a release and its per-node state. What nodes run ({@link currentOf}) is kept:
   * it stays what they run whichever release brought it.
   */
  delete(tx: Tx, id: string): void {
    for (const nodeId of this.nodes.get(id)?.keys() ?? []) {
      tx.del(`rn!${id}!${nodeId}`)
      this.indexWithdrawn(id, nodeId, undefined)
    }
    this.nodes.delete(id)
    const key = this.releases.get(id)?.idempotency?.key
    if (key !== undefined && this.byKey.get(key) === id) this.byKey.delete(key)
    this.unindexResource(id)
    this.releases.delete(id)
    tx.del(`rel!${id}`)
  }

  /**
   * A node was deleted, and with it the commands `dropped` (ids) of its outbox. Where one of
   * them is what a release waits on, the node will never report on it: it counts as failed.
   * A release with a {@link Release.result} (completed, or aborted) counts it so (a late
   * member deleted before it answered, a node still fetching when the release was aborted).
   * Every entry of the node is marked {@link ReleaseNode.deletedAt}, and what it ran is
   * forgotten: a machine enrolled later under its id starts from nothing (it runs nothing
   * the tracker knows of, so reconciliation sends it what its campus runs).
   */
  nodeDeleted(tx: Tx, nodeId: string, dropped: ReadonlySet<string>, now = Date.now()): void {
    const resources = new Set<string>()
    const ended: Release[] = []
    for (const [releaseId, m] of this.nodes) {
      const r = this.releases.get(releaseId)
      if (r !== undefined) resources.add(r.resource)
      const rn = m.get(nodeId)
      if (rn === undefined || rn.deletedAt !== undefined) continue
      const gone = rn.cmdId !== undefined && dropped.has(rn.cmdId)
      // a changed copy, never a change in place: the readers share the written object
      this.putNode(
        tx,
        releaseId,
        gone ? { ...rn, state: 'failed', reason: NODE_DELETED, deletedAt: now } : { ...rn, deletedAt: now },
      )
      // a release that says how its nodes ended (a completed one waiting on a late member's
      // place, an aborted one on a node still fetching) ends differently now
      if (gone && (r?.status === 'completed' || r?.status === 'aborted') && r.result !== undefined)
        ended.push(r)
    }
    for (const r of ended) {
      r.result = releaseResult(this.nodesOf(r.id).values(), r.status)
      this.put(tx, r)
    }
    for (const resource of resources)
      if (this.current.has(`${nodeId}!${resource}`)) this.setCurrent(tx, nodeId, resource, undefined)
  }

  /**
   * Ids of the releases holding `nodeId` `withdrawn` with the withdrawn command's sequence
   * ({@link ReleaseNode.withdrawnSeq}) still to be checked at its next hello. A copy.
   */
  withdrawnAwaitingHello(nodeId: string): string[] {
    return [...(this.withdrawnBy.get(nodeId) ?? [])]
  }

  /** The resources that have releases. */
  resources(): IterableIterator<string> {
    return this.byResource.keys()
  }

  /** The releases of `resource`, newest first (creation time, then id). Do not change it. */
  ofResource(resource: string): readonly Release[] {
    return this.byResource.get(resource) ?? []
  }

  /** Puts `r` in its resource's list, in place of the stored object of its id if any. */
  private indexResource(r: Release): void {
    const old = this.releases.get(r.id)
    // changed in place: a release's resource and creation time never change
    if (old === r) return
    if (old !== undefined) this.unindexResource(r.id)
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

  private unindexResource(id: string): void {
    const old = this.releases.get(id)
    if (old === undefined) return
    const list = this.byResource.get(old.resource)
    const i = list?.findIndex((r) => r.id === id) ?? -1
    if (list === undefined || i < 0) return
    list.splice(i, 1)
    if (list.length === 0) this.byResource.delete(old.resource)
  }

  private indexWithdrawn(releaseId: string, nodeId: string, node: ReleaseNode | undefined): void {
    const awaits =
      node?.state === 'withdrawn' &&
      node.withdrawnSeq !== undefined &&
      node.cmdId !== undefined &&
      node.deletedAt === undefined
    const ids = this.withdrawnBy.get(nodeId)
    if (awaits) {
      if (ids === undefined) this.withdrawnBy.set(nodeId, new Set([releaseId]))
      else ids.add(releaseId)
    } else if (ids?.delete(releaseId) === true && ids.size === 0) this.withdrawnBy.delete(nodeId)
  }

  /** The release created with this `Idempotency-Key`, if any. */
  byIdempotencyKey(key: string): Release | undefined {
    const id = this.byKey.get(key)
    return id === undefined ? undefined : this.releases.get(id)
  }

  /** Version a node runs for a resource, as last reported active. */
  currentOf(nodeId: string, resource: string): CurrentRef | undefined {
    return this.current.get(`${nodeId}!${resource}`)
  }

  /** Sets what a node runs. `ref` is shared with the readers' copy like {@link putNode}'s: never change it after. */
  setCurrent(tx: Tx, nodeId: string, resource: string, ref: CurrentRef | undefined): void {
    const k = `${nodeId}!${resource}`
    if (ref === undefined) {
      this.current.delete(k)
      tx.del(`cur!${k}`)
    } else {
      this.current.set(k, ref)
      tx.putShared(`cur!${k}`, ref)
    }
  }
}
