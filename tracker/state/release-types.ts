/**
 * The release model's types (releases, per-node states, what a node runs, how a release
 * ended) and the pure functions over them. The repository is `releases.ts`.
 */
import type { ReleaseTargets } from '../rollout/select.ts'
import type { ReleaseSummary } from './release-summary.ts'

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
  /**
   * When the release finished: completed, aborted or rolled back (epoch ms). Absent while it
   * runs, and in releases that finished before the field existed (`updatedAt` stands in).
   */
  finishedAt?: number
  /**
   * Set once the release is compacted (`rollout/retention.ts`): its per-node states were
   * folded into these counts and dropped, and it can no longer be rolled back. Nodes that
   * held it open then (a command out or queued, a withdrawal to tell, a retry due) keep their
   * states, and so do late members that joined since, until a later pass folds them in too.
   */
  compacted?: ReleaseSummary
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
  /**
   * A late member's catch-up `place` commands sent so far (`rollout/catch-up.ts`): set at its
   * first failure (1), one more at each retry. Absent: none failed yet.
   */
  attempts?: number
  /**
   * When a late member whose catch-up failed is to be sent its `place` again (epoch ms), with
   * a new command: set while it waits for that retry, cleared when it is sent, when the node
   * answers the failed command after all, or when the retry is no longer wanted (see
   * `rollout/catch-up.ts`). On disk, so a restarted tracker keeps the schedule.
   */
  retryAt?: number
  /** Why, and when (epoch ms), a late member's last catch-up attempt failed. Kept once it succeeds. */
  lastFailure?: { reason?: string; at: number }
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
export function releaseResult(
  nodes: Iterable<ReleaseNode>,
  status: ReleaseStatus,
  folded?: ReleaseSummary,
): ReleaseResult {
  // a compacted release's nodes are partly (or all) counts already
  const c = folded?.counts ?? {}
  let active = c.active ?? 0
  let failed = c.failed ?? 0
  let timedOut = folded?.timedOut ?? 0
  let withdrawn = c.withdrawn ?? 0
  let others = (folded?.nodes ?? 0) - active - failed - withdrawn
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

/** The progress of a node's `place` that has not started (yet, or again): nothing fetched. */
export const NO_PROGRESS: Readonly<Pick<ReleaseNode, 'percent' | 'peerBytes' | 'originBytes'>> = {
  percent: 0,
  peerBytes: 0,
  originBytes: 0,
}
