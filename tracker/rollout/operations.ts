/**
 * Operator operations on a release: pause, resume, advance, abort and rollback (`revert.ts`).
 * Each checks the release's status, then changes it in the caller's transaction; writing
 * the release, committing, announcing and delivering are the engine's (`engine.ts`).
 */
import { InvalidReleaseStateError, ReleaseAtLastStageError, ReleaseCompactedError } from '../errors.ts'
import type { Release, TrackerState, Tx } from '../state/index.ts'
import type { Announce, ReleaseOperation } from './engine-types.ts'
import { compactRelease, FINISHED } from './retention.ts'
import { revertRelease } from './revert.ts'
import { evaluate, issueStage } from './stages.ts'
import { withdrawUndelivered } from './withdraw.ts'

/** Components of the operator operations. */
export interface OperationComponents {
  state: TrackerState
  announce: Announce
  /** A passed gate could not issue the next stage: retried later (see the engine). */
  onBlocked(id: string, err: unknown): void
  /** Whether a node's channel is up now: an abort withdraws only what waits for nodes that are not. */
  isConnected(nodeId: string): boolean
}

/**
 * Applies `op` to `r` in `tx`; returns the nodes given new commands. Throws
 * {@link InvalidReleaseStateError} if `r`'s status does not allow `op`,
 * {@link ReleaseAtLastStageError} for an advance past the last stage, and
 * {@link ReleaseCompactedError} for a rollback of a compacted release.
 */
export function applyOperation(c: OperationComponents, tx: Tx, r: Release, op: ReleaseOperation): string[] {
  const { state } = c
  let touched: string[] = []
  const live = r.status === 'running' || r.status === 'paused'
  switch (op) {
    case 'pause':
      if (r.status !== 'running') throw new InvalidReleaseStateError(op, r.status)
      r.status = 'paused'
      break
    case 'resume':
      if (r.status !== 'paused') throw new InvalidReleaseStateError(op, r.status)
      r.status = 'running'
      // the release is resumed even if its next stage cannot be issued yet: it is then
      // blocked and retried like a gate passed by an outcome
      try {
        touched = evaluate(state, tx, r, c.announce)
      } catch (err) {
        c.onBlocked(r.id, err)
      }
      break
    case 'advance':
      if (!live) throw new InvalidReleaseStateError(op, r.status)
      if (r.stage >= r.stages.length - 1) throw new ReleaseAtLastStageError(r.id, r.status, r.stages.length)
      touched = issueStage(state, tx, r, r.stage + 1)
      c.announce(tx, { type: 'release.stage', releaseId: r.id, stage: r.stage })
      // a stage with no node of its own: nothing will report on it, so its gate (or the
      // completion, if it was the last) is applied now, as after an outcome; a stage after
      // it that cannot be queued yet is blocked and retried, as after a resume
      if (touched.length === 0)
        try {
          touched = evaluate(state, tx, r, c.announce)
        } catch (err) {
          c.onBlocked(r.id, err)
        }
      break
    case 'abort':
      if (!live) throw new InvalidReleaseStateError(op, r.status)
      // what has not reached an offline node never will (`withdraw.ts`); nodes keep what they got
      withdrawUndelivered(state, tx, r, c.isConnected)
      r.status = 'aborted'
      r.finishedAt = Date.now()
      // how the nodes it reached ended, and how many it withdrew from; the outcomes of
      // commands still out update it
      r.result = state.releases.resultOf(r)
      break
    case 'rollback':
      if (r.status === 'rolled_back') throw new InvalidReleaseStateError(op, r.status)
      // what each node ran before it is gone with its per-node states (`retention.ts`)
      if (r.compacted !== undefined) throw new ReleaseCompactedError(r)
      touched = revertRelease(state, tx, r)
      r.status = 'rolled_back'
      r.finishedAt = Date.now()
      break
    case 'compact': {
      // what the sweep does once the retention period is over, now: the release can no
      // longer be rolled back, so the version it replaced stops being a rollback target and
      // may be removed (`version-use.ts`); nodes still holding it open keep their states
      if (!FINISHED.has(r.status)) throw new InvalidReleaseStateError(op, r.status)
      const nodes = compactRelease(state, tx, r, Date.now())
      c.announce(tx, { type: 'release.compacted', releaseId: r.id, nodes })
      break
    }
  }
  return touched
}
