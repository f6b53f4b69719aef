/**
 * Outcome deadlines. A node that ACKed a release's `place` and then reports nothing (it
 * died, or its agent hangs) would hold its release in `fetching`, and its stage's gate,
 * for ever: once its release's `outcomeTimeoutMs` has passed since the ACK it counts as
 * failed, reason `timeout`. Deadlines are not stored as such: each follows from what is
 * (the node's `ackedAt`, the release's timeout), so a restarted tracker finds them again,
 * and one that passed while it was down is applied as it starts.
 */
import { DEFAULT_OUTCOME_TIMEOUT_MS } from '../constants.ts'
import type { Release, ReleaseNode, Releases, Tx } from '../state/index.ts'
import { OUTCOME_TIMEOUT } from '../state/releases.ts'
import { type CatchUpRetryPolicy, DEFAULT_CATCH_UP_RETRY, scheduleRetry } from './catch-up.ts'

/** Longest delay `setTimeout` takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1

/**
 * The time (epoch ms) by which `rn` must report an outcome, or undefined if it owes none:
 * only an ACKed `place` without an outcome (`fetching`) of a running or paused release has
 * a deadline, or of a late member (`joinedAt`, `reconcile.ts`) of a completed one. A node
 * ACKed before `ackedAt` was recorded counts from `since`.
 */
export function outcomeDeadline(r: Release, rn: ReleaseNode, since: number): number | undefined {
  if (rn.state !== 'fetching' || !hasDeadlines(r, rn)) return undefined
  return (rn.ackedAt ?? since) + (r.outcomeTimeoutMs ?? DEFAULT_OUTCOME_TIMEOUT_MS)
}

/** Whether `rn` of `r` can have an outcome deadline (see {@link outcomeDeadline}). */
function hasDeadlines(r: Release, rn?: ReleaseNode): boolean {
  if (r.status === 'running' || r.status === 'paused') return true
  // a completed release waits on nothing, but a late member it was given owes an outcome
  return r.status === 'completed' && (r.joined ?? 0) > 0 && (rn === undefined || rn.joinedAt !== undefined)
}

/**
 * Fails, in `tx`, every node whose outcome deadline passed by `now` (reason
 * {@link OUTCOME_TIMEOUT}, `timedOutAt` now). Returns them, and the earliest deadline still
 * ahead (Infinity if none). Walks the nodes of the running and paused releases, and of the
 * completed ones that were given late members. A late member that times out waits for a
 * catch-up retry with the backoff `retry` (`catch-up.ts`), as one that reported a failure.
 */
export function failOverdue(
  releases: Releases,
  tx: Tx,
  now: number,
  since: number,
  retry: CatchUpRetryPolicy = DEFAULT_CATCH_UP_RETRY,
): { failed: Array<{ releaseId: string; nodeId: string }>; next: number } {
  const failed: Array<{ releaseId: string; nodeId: string }> = []
  let next = Number.POSITIVE_INFINITY
  for (const r of releases.releases.values()) {
    if (!hasDeadlines(r)) continue
    let late = false
    for (const rn of releases.nodesOf(r.id).values()) {
      const at = outcomeDeadline(r, rn, since)
      if (at === undefined) continue
      if (at > now) {
        next = Math.min(next, at)
        continue
      }
      const overdue: ReleaseNode = { ...rn, state: 'failed', reason: OUTCOME_TIMEOUT, timedOutAt: now }
      // a late member's catch-up is tried again (`catch-up.ts`)
      scheduleRetry(retry, r, overdue, now)
      releases.putNode(tx, r.id, overdue)
      failed.push({ releaseId: r.id, nodeId: rn.nodeId })
      late = r.status === 'completed'
    }
    if (late) {
      // a late member of a completed release timed out: how the release ended changed
      r.result = releases.resultOf(r)
      releases.put(tx, r)
    }
  }
  return { failed, next }
}

/**
 * One timer for the earliest deadline, not one per node (a stage's 5,000 nodes ACK within
 * a second): `onDue` sweeps every overdue node at once and schedules the next deadline.
 */
export class DeadlineTimer {
  private timer?: NodeJS.Timeout
  /** When the timer fires; Infinity when none is set. */
  private at = Number.POSITIVE_INFINITY
  private stopped = false
  private readonly onDue: () => void

  constructor(onDue: () => void) {
    this.onDue = onDue
  }

  /** Makes the timer fire no later than `at` (epoch ms). */
  schedule(at: number): void {
    if (this.stopped || at >= this.at) return
    clearTimeout(this.timer)
    this.at = at
    // a deadline beyond what a timer holds is met by a sweep that finds nothing due and
    // schedules it again
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.at = Number.POSITIVE_INFINITY
      this.onDue()
    }, delay)
    // a pending deadline must not keep a stopping process alive
    this.timer.unref()
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
  }
}
