/**
 * Typed errors of releases: an operation their status or stage refuses, a rollback that
 * cannot be done, overlapping releases, a last stage short of 100 percent, and the reuse of
 * an `Idempotency-Key`.
 */
import { ConflictError, TrackerError } from './base-errors.ts'

/** The operation is not allowed in the release's current status. */
export class InvalidReleaseStateError extends TrackerError {
  override name = 'InvalidReleaseStateError'
  constructor(op: string, status: string) {
    super(`cannot ${op} a release that is ${status}`, 'ERR_INVALID_RELEASE_STATE', 409)
  }
}

/**
 * `advance` at a release's last stage: there is no stage left to issue. The code is the one
 * every refused operation has had (`ERR_INVALID_RELEASE_STATE`), so clients matching it
 * still do; the message says why.
 */
export class ReleaseAtLastStageError extends ConflictError {
  override name = 'ReleaseAtLastStageError'
  constructor(id: string, status: string, stages: number) {
    super(
      `cannot advance release ${id}: it is already at its last stage (${stages} of ${stages}, every target reached); it is ${status} and completes once each of its nodes has reported or passed its outcome deadline`,
      'ERR_INVALID_RELEASE_STATE',
    )
  }
}

/**
 * `advance` named the stage it advances from (`from`, a `release.stage` index) and the
 * release is no longer at it: another advance, or an earlier try of this one whose answer
 * was lost, moved it on. Advancing again would skip a stage and its gate; nothing changed.
 */
export class StageMismatchError extends ConflictError {
  override name = 'StageMismatchError'
  constructor(id: string, from: number, stage: number, stages: number) {
    super(
      `release ${id} is at stage index ${stage} (stage ${stage + 1} of ${stages}), not ${from} as the advance's "from" says: it was advanced since that stage was read, and nothing was changed; read its status before advancing again`,
      'ERR_STAGE_MISMATCH',
    )
  }
}

/**
 * A rollback would revert no node: every node the release reached has since moved on to
 * another release (or version), and sending it back would undo that one behind its back.
 */
export class ReleaseSupersededError extends ConflictError {
  override name = 'ReleaseSupersededError'
  constructor(id: string, now: string[]) {
    super(
      `cannot roll back release ${id}: every node it reached has moved on (now on ${now.join(', ')}); roll back the newer release instead`,
      'ERR_RELEASE_SUPERSEDED',
    )
  }
}

/**
 * A rollback of a compacted release: it finished more than the retention period ago and its
 * per-node states, among them what each node ran before it (what a rollback sends it back
 * to), were dropped (`rollout/retention.ts`). Releasing the old version reaches the same
 * nodes with the tracker's usual checks.
 */
export class ReleaseCompactedError extends ConflictError {
  override name = 'ReleaseCompactedError'
  /** The release. */
  readonly releaseId: string
  constructor(r: { id: string; resource: string; compacted?: { at: number } }) {
    const at = r.compacted === undefined ? '' : ` on ${new Date(r.compacted.at).toISOString()}`
    super(
      `cannot roll back release ${r.id}: it was compacted${at} (finished longer ago than the tracker's release retention), and what each node ran before it is no longer kept; release the version you want the nodes on instead (dandelion release create --resource ${r.resource} --version <old version> …)`,
      'ERR_RELEASE_COMPACTED',
    )
    this.releaseId = r.id
  }
}

/**
 * A release of a resource would reach nodes an older release of that resource, still
 * running or paused, has yet to finish with: the older one would later send its version
 * over the newer one (or be overtaken in the middle), and the tracker would show both
 * active. Let it finish or abort it first.
 */
export class ReleaseOverlapError extends ConflictError {
  override name = 'ReleaseOverlapError'
  constructor(resource: string, older: Array<{ id: string; version: number; nodes: string[] }>) {
    const list = older
      .map((o) => {
        const sample = o.nodes.slice(0, 5).join(', ') + (o.nodes.length > 5 ? ', …' : '')
        return `release ${o.id} (v${o.version}) has yet to finish on ${o.nodes.length} of them (${sample})`
      })
      .join('; ')
    super(
      `${resource} is still being released to these nodes: ${list}; let it finish or abort it first`,
      'ERR_RELEASE_OVERLAP',
    )
  }
}

/** A release's last stage does not reach every target. */
export class FinalStageNotFullError extends TrackerError {
  override name = 'FinalStageNotFullError'
  constructor(percent: number) {
    super(`the last stage must be 100 percent, not ${percent}`, 'ERR_FINAL_STAGE_NOT_FULL', 400)
  }
}

/**
 * An `Idempotency-Key` already names a release created from a different request: reusing
 * a key for another request is a client bug, and answering with the first release would
 * hide it.
 */
export class IdempotencyKeyReusedError extends TrackerError {
  override name = 'IdempotencyKeyReusedError'
  constructor(releaseId: string) {
    super(
      `this Idempotency-Key already created release ${releaseId} from a different request`,
      'ERR_IDEMPOTENCY_KEY_REUSED',
      422,
    )
  }
}

/** A request with this `Idempotency-Key` is still being processed; retry once it answers. */
export class IdempotencyKeyInUseError extends ConflictError {
  override name = 'IdempotencyKeyInUseError'
  constructor() {
    super('a request with this Idempotency-Key is still in progress', 'ERR_IDEMPOTENCY_KEY_IN_USE')
  }
}
