/**
 * Catch-up retries. A late member (`reconcile.ts`: a node that enrolled or moved into a
 * campus after the release it runs completed) whose `place` failed (its disk was full, the
 * origin unreachable) or timed out would stay `failed` in that completed release for ever:
 * reconciliation leaves members alone, and no operator releases again a version the campus
 * already runs. So it is sent its `place` again, as a new command through the outbox (ACK,
 * retransmit, dedup, outcome deadline as any), after a backoff: {@link retryDelay}, 10 min
 * doubling up to 24 h by default, not capped in attempts. Every cause seen is one the node's
 * operator may fix at any time without telling the tracker, the node stays out of step with
 * its campus until it succeeds, and a node failing for good costs one command a day.
 *
 * A retry is sent only while it is wanted ({@link retryWanted}): the node is not deleted,
 * the release is still the one that says what the node should run (no newer release covers
 * it, it was not moved out of the targets, the release was not rolled back), and the node
 * does not run that version already; one no longer wanted is dropped, never sent. It is
 * held back (to its next delay, not counted) while another release has the node (a live
 * release of the resource, or a command of it still unanswered): that rollout decides. It
 * goes only to a connected node: one offline when it falls due is retried at its next hello
 * (`RolloutEngine.reconcile`), at once. Regular members are not retried: their failure is
 * their release's outcome, and the operator releases again.
 *
 * What the backoff needs is on the node's state in the release (`attempts`, `retryAt`,
 * `lastFailure`, written with the failure), so a restarted tracker keeps the schedule. A
 * late member waiting for a wanted retry keeps its state when its release is compacted
 * (`retention.ts`): folding it would fold the failure into counts and keep the node as a
 * member, which reconciliation leaves alone.
 */
import { logger } from '@libp2p/logger'
import { CATCH_UP_RETRY_INITIAL_MS, CATCH_UP_RETRY_MAX_MS } from '../constants.ts'
import { CapacityError } from '../errors.ts'
import type { Release, ReleaseNode, Repositories, TrackerState, Tx } from '../state/index.ts'
import { NO_PROGRESS } from '../state/release-types.ts'
import { type DesiredVersion, desiredVersions } from './desired-versions.ts'
import type { Announce } from './engine-types.ts'
import { placeFields } from './place.ts'
import { busy } from './reconcile.ts'

const log = logger('dandelion:tracker:catch-up')

/** The backoff of catch-up retries (see the module comment). */
export interface CatchUpRetryPolicy {
  /** Delay after the first failure; doubled at each further one. */
  initialMs: number
  /** Longest delay. */
  maxMs: number
}

/** The default backoff: {@link CATCH_UP_RETRY_INITIAL_MS} doubling up to {@link CATCH_UP_RETRY_MAX_MS}. */
export const DEFAULT_CATCH_UP_RETRY: Readonly<CatchUpRetryPolicy> = Object.freeze({
  initialMs: CATCH_UP_RETRY_INITIAL_MS,
  maxMs: CATCH_UP_RETRY_MAX_MS,
})

/** A backoff, and the timer of the engine's retry sweep. */
export interface CatchUpRetry extends CatchUpRetryPolicy {
  /** Makes the retry sweep run no later than `at` (epoch ms). */
  schedule(at: number): void
}

/** The delay before the next attempt, after `attempts` (≥ 1) catch-up commands failed. */
export function retryDelay(p: CatchUpRetryPolicy, attempts: number): number {
  // 2^40 × 1 ms is past any cap: no overflow to Infinity however long a node fails
  return Math.min(p.maxMs, p.initialMs * 2 ** Math.min(Math.max(attempts, 1) - 1, 40))
}

/** Whether `rn` is a late member (not a deleted machine's entry) of `r`, a completed release. */
function isLateMember(r: Release, rn: ReleaseNode): boolean {
  return r.status === 'completed' && rn.joinedAt !== undefined && rn.deletedAt === undefined
}

/**
 * `rn`, a copy of a node's state in `r` not written yet, has just become `failed` (its
 * `reason` set): if it is a late member of a completed release, its next attempt is
 * scheduled (a failure reported after a timeout keeps the retry the timeout scheduled).
 * Returns when it is due, undefined if none is.
 */
export function scheduleRetry(
  p: CatchUpRetryPolicy,
  r: Release,
  rn: ReleaseNode,
  now: number,
): number | undefined {
  if (!isLateMember(r, rn)) return undefined
  rn.attempts ??= 1
  rn.lastFailure = rn.reason === undefined ? { at: now } : { reason: rn.reason, at: now }
  rn.retryAt ??= now + retryDelay(p, rn.attempts)
  return rn.retryAt
}

/** The repositories the checks read: the writers' or the readers' (`committed`). */
type View = Pick<Repositories, 'releases' | 'inventory' | 'catalog'>

/**
 * Whether the catch-up retry `rn` waits for in `r` is still wanted (see the module
 * comment): a late member, failed, of a release that is what the node should run
 * (`desired`, as {@link desiredVersions} gives it for `r`'s resource), of a version it does
 * not run.
 */
export function retryWanted(
  view: View,
  r: Release,
  rn: ReleaseNode,
  desired: DesiredVersion | undefined = desiredVersions(view, rn.nodeId).get(r.resource),
): boolean {
  if (rn.state !== 'failed' || !isLateMember(r, rn) || desired?.releaseId !== r.id) return false
  // a version removed since is sent no more (`version-use.ts`)
  if (view.catalog.isRemoved(r.resource, desired.version)) return false
  const cur = view.releases.currentOf(rn.nodeId, r.resource)
  return cur?.version !== desired.version || cur.manifestCid !== desired.manifestCid
}

/** Components of the catch-up retries. */
export interface CatchUpComponents {
  state: TrackerState
  announce: Announce
  /** @default DEFAULT_CATCH_UP_RETRY, with no sweep to schedule */
  retry?: CatchUpRetry
}

/**
 * Goes, in `tx`, through the releases where `nodeId` waits for a catch-up retry: drops a
 * retry no longer wanted, and sends one that is due at `now` if `send` (the node is
 * connected) unless another release has the node or its outbox is full (then held back to
 * its next delay). With `rearm`, a failed late member of the release the node should run
 * that waits for no retry is given one first: its retry was dropped while that release did
 * not say so (the node was moved out and back, a newer release was rolled back), or it
 * failed before retries existed. Returns whether a command was queued.
 */
export function retryCatchUps(
  c: CatchUpComponents,
  tx: Tx,
  nodeId: string,
  options: { now: number; send: boolean; rearm?: boolean; desired?: Map<string, DesiredVersion> },
): boolean {
  const { releases } = c.state
  const ids = releases.retryingOf(nodeId)
  if (ids.length === 0 && options.rearm !== true) return false
  const p = c.retry ?? DEFAULT_CATCH_UP_RETRY
  const desired = options.desired ?? desiredVersions(c.state, nodeId)
  if (options.rearm === true)
    for (const d of desired.values()) {
      const rn = releases.nodes.get(d.releaseId)?.get(nodeId)
      const r = releases.releases.get(d.releaseId)
      if (r === undefined || rn === undefined || rn.retryAt !== undefined || !retryWanted(c.state, r, rn, d))
        continue
      // its backoff goes on from its last failure
      const attempts = rn.attempts ?? 1
      const at = Math.max(options.now, (rn.lastFailure?.at ?? 0) + retryDelay(p, attempts))
      releases.putNode(tx, r.id, { ...rn, attempts, retryAt: at })
      ids.push(r.id)
    }
  let sent = false
  for (const id of ids) {
    const r = releases.releases.get(id)
    const rn = releases.nodes.get(id)?.get(nodeId)
    if (r === undefined || rn?.retryAt === undefined) continue
    const d = desired.get(r.resource)
    if (d === undefined || !retryWanted(c.state, r, rn, d)) {
      // a changed copy, never a change in place: the readers share the written object
      const { retryAt: _, ...next } = rn
      releases.putNode(tx, id, next)
      log('%s no longer catches up on %s through release %s: retry dropped', nodeId, r.resource, id)
      continue
    }
    if (rn.retryAt > options.now || !options.send) continue
    if (busy(c.state, nodeId, r.resource)) {
      holdBack(c, tx, r, rn, p, options.now)
      continue
    }
    try {
      resend(c, tx, r, rn, d)
      sent = true
    } catch (err) {
      if (!(err instanceof CapacityError)) throw err
      log('cannot retry %s on %s yet: %e', nodeId, r.resource, err)
      holdBack(c, tx, r, rn, p, options.now)
    }
  }
  return sent
}

/** Moves `rn`'s retry to its next delay from `now`, without counting an attempt. */
function holdBack(
  c: CatchUpComponents,
  tx: Tx,
  r: Release,
  rn: ReleaseNode,
  p: CatchUpRetryPolicy,
  now: number,
): void {
  const at = now + retryDelay(p, rn.attempts ?? 1)
  c.state.releases.putNode(tx, r.id, { ...rn, retryAt: at })
  c.retry?.schedule(at)
}

/** Queues `rn`'s `place` again, as a new command, and counts the attempt. */
function resend(c: CatchUpComponents, tx: Tx, r: Release, rn: ReleaseNode, d: DesiredVersion): void {
  const { outbox, releases } = c.state
  // A failed command left the outbox with its outcome; a timed-out one was ACKed (its
  // deadline starts at the ACK) and stays queued until the node answers: that answer is no
  // longer recorded (the state follows `cmdId`), and this newer command supersedes it on the
  // node. So nothing is withdrawn.
  const cmd = outbox.enqueue(tx, rn.nodeId, placeFields(r, d.variant))
  // what the failed attempt left: its deadline, timeout and reason (kept in `lastFailure`);
  // `joinedAt` and `prev` (what a rollback sends it back to) stay those of its joining
  const { retryAt: _, ackedAt: _a, timedOutAt: _t, reason: _r, ...kept } = rn
  const attempts = (rn.attempts ?? 1) + 1
  releases.putNode(tx, r.id, {
    ...kept,
    variant: d.variant,
    state: 'pending',
    cmdId: cmd.id,
    ...NO_PROGRESS,
    attempts,
  })
  r.result = releases.resultOf(r)
  releases.put(tx, r)
  c.announce(tx, {
    type: 'release.node',
    releaseId: r.id,
    nodeId: rn.nodeId,
    state: 'pending',
    retry: attempts,
  })
  log(
    '%s catches up on %s again (attempt %d): release %s v%d',
    rn.nodeId,
    r.resource,
    attempts,
    r.id,
    d.version,
  )
}

/**
 * When the retry sweep should run next after `now`: the earliest retry still ahead, or now
 * for one due to a connected node (Infinity if none). A retry due to a node offline waits for
 * its hello, not for the sweep.
 */
export function nextRetryAt(
  state: TrackerState,
  now: number,
  isConnected: (nodeId: string) => boolean,
): number {
  let next = Number.POSITIVE_INFINITY
  for (const nodeId of state.releases.retryingNodes())
    next = Math.min(next, nextRetryOf(state, nodeId, now, isConnected(nodeId)))
  return next
}

/** {@link nextRetryAt} of one node, `connected` or not. */
export function nextRetryOf(state: TrackerState, nodeId: string, now: number, connected: boolean): number {
  const { releases } = state
  let next = Number.POSITIVE_INFINITY
  for (const id of releases.retryingOf(nodeId)) {
    const at = releases.nodes.get(id)?.get(nodeId)?.retryAt
    if (at === undefined) continue
    if (at > now) next = Math.min(next, at)
    else if (connected) next = Math.min(next, now)
  }
  return next
}
