/**
 * What nodes report about a release's commands: the ACK (its outcome deadline starts,
 * `deadlines.ts`), fetch progress, and the outcome, which moves the node's state and what
 * it runs. Everything is written into the caller's transaction; evaluating the gates the
 * outcomes open is the engine's (`engine.ts`, `stages.ts`).
 */
import type { Command, OutcomeStatus } from '../../node/agent/protocol.ts'
import { DEFAULT_OUTCOME_TIMEOUT_MS } from '../constants.ts'
import type { ReleaseNode, TrackerState, Tx } from '../state/index.ts'
import { type CatchUpRetry, DEFAULT_CATCH_UP_RETRY, scheduleRetry } from './catch-up.ts'
import type { DeadlineTimer } from './deadlines.ts'
import type { Announce } from './engine-types.ts'
import { refOf } from './revert.ts'

/** Components of the outcome handlers. */
export interface OutcomeComponents {
  state: TrackerState
  /** Fires at the earliest outcome deadline. */
  deadlines: Pick<DeadlineTimer, 'schedule'>
  announce: Announce
  /**
   * The backoff of a late member's failed catch-up, and the sweep that retries it
   * (`catch-up.ts`). @default DEFAULT_CATCH_UP_RETRY, with no sweep to schedule
   */
  retry?: CatchUpRetry
}

/** An outcome as a node reports it. */
export interface NodeOutcome {
  status: OutcomeStatus
  reason?: string
  peerBytes?: number
  originBytes?: number
}

/** Fetch progress as a node reports it. */
export interface NodeProgress {
  percent: number
  peerBytes: number
  originBytes: number
}

/** The node ACKed receipt of a command. */
export function recordAck(c: OutcomeComponents, tx: Tx, nodeId: string, cmd: Command): void {
  const rn = nodeOf(c.state, cmd, nodeId)
  if (rn === undefined || rn.state !== 'pending' || cmd.op !== 'place') return
  // a changed copy, never a change in place: the readers share the written object
  c.state.releases.putNode(tx, cmd.releaseId!, startFetching(c, { ...rn }, cmd.releaseId!))
}

/** Progress of a fetch. Kept in memory and written without sync: it is advisory. */
export function recordProgress(
  c: OutcomeComponents,
  tx: Tx,
  nodeId: string,
  cmd: Command,
  p: NodeProgress,
): void {
  const rn = nodeOf(c.state, cmd, nodeId)
  if (rn === undefined) return
  // a changed copy, never a change in place: the readers share the written object
  const next: ReleaseNode = { ...rn, percent: p.percent, peerBytes: p.peerBytes, originBytes: p.originBytes }
  if (next.state === 'pending') startFetching(c, next, cmd.releaseId!)
  c.state.releases.putNode(tx, cmd.releaseId!, next)
}

/**
 * Records the outcome `o` of `cmd` on the node, and what the node runs now. Returns the id
 * of the release whose gate is to be evaluated again, or undefined if `cmd` is not the
 * node's current command of a release (nothing is then written).
 */
export function recordOutcome(
  c: OutcomeComponents,
  tx: Tx,
  nodeId: string,
  cmd: Command,
  o: NodeOutcome,
): string | undefined {
  const { state } = c
  const rn = nodeOf(state, cmd, nodeId)
  if (rn === undefined) return undefined
  const r = state.releases.get(cmd.releaseId!)
  // after its deadline (`timedOutAt` set): still recorded, the node did get the content;
  // its state moves from `failed` to what it reports, so it is counted once
  const late = rn.state === 'failed' && rn.timedOutAt !== undefined
  const next: ReleaseNode = { ...rn, reason: o.reason }
  if (o.peerBytes !== undefined) next.peerBytes = o.peerBytes
  if (o.originBytes !== undefined) next.originBytes = o.originBytes
  if (cmd.op === 'place') {
    next.state = o.status === 'failed' ? 'failed' : o.status === 'placed' ? 'placed' : 'active'
    if (next.state === 'failed') {
      // a late member's catch-up is tried again after a backoff (`catch-up.ts`; one that
      // timed out keeps the retry its timeout scheduled); a regular member's failure is its
      // release's outcome
      const retryAt = scheduleRetry(c.retry ?? DEFAULT_CATCH_UP_RETRY, r, next, Date.now())
      if (retryAt !== undefined) c.retry?.schedule(retryAt)
    } else {
      next.percent = 100
      // it got the version after all (its command had timed out): no retry
      delete next.retryAt
    }
    if (next.state === 'active')
      state.releases.setCurrent(tx, nodeId, r.resource, {
        version: cmd.version,
        manifestCid: cmd.manifestCid,
        releaseId: r.id,
      })
  } else {
    delete next.retryAt
    next.state = o.status === 'failed' ? 'failed' : 'reverted'
    // back on what it ran before: that version's release is again the one it runs, so
    // rolling that one back later reverts this node too
    if (next.state === 'reverted')
      state.releases.setCurrent(
        tx,
        nodeId,
        r.resource,
        cmd.op === 'activate'
          ? refOf({ version: cmd.version, manifestCid: cmd.manifestCid, releaseId: rn.prev?.releaseId })
          : undefined,
      )
  }
  state.releases.putNode(tx, r.id, next)
  c.announce(tx, {
    type: 'release.node',
    releaseId: r.id,
    nodeId,
    state: next.state,
    reason: o.reason,
    ...(late ? { late: true } : {}),
  })
  if ((r.status === 'completed' || r.status === 'aborted') && r.result !== undefined) {
    // a late outcome changes how a completed release ended; so does, in an aborted one, the
    // outcome of a command that was out when it was aborted
    r.result = state.releases.resultOf(r)
    state.releases.put(tx, r)
  }
  return r.id
}

/** `rn` (a copy not written yet) has its command: its outcome deadline starts now. */
function startFetching(c: OutcomeComponents, rn: ReleaseNode, releaseId: string): ReleaseNode {
  rn.state = 'fetching'
  rn.ackedAt = Date.now()
  const timeout = c.state.releases.releases.get(releaseId)?.outcomeTimeoutMs ?? DEFAULT_OUTCOME_TIMEOUT_MS
  c.deadlines.schedule(rn.ackedAt + timeout)
  return rn
}

/** The node's state in `cmd`'s release, if `cmd` is its current command there. */
function nodeOf(state: TrackerState, cmd: Command, nodeId: string): ReleaseNode | undefined {
  if (cmd.releaseId === undefined) return undefined
  const rn = state.releases.nodes.get(cmd.releaseId)?.get(nodeId)
  return rn?.cmdId === cmd.id ? rn : undefined
}
