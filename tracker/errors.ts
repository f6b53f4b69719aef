/**
 * Typed errors of the tracker. Each has a stable `name`, a `code` and the HTTP `status`
 * the admin API answers with. Match them by name or code, never by message text.
 */
import { DandelionError } from '../node/errors.ts'

/** Base of every tracker error that maps to an HTTP status. */
export class TrackerError extends DandelionError {
  /** HTTP status the admin API answers with. */
  readonly status: number
  constructor(message: string, code: string, status: number, options?: ErrorOptions) {
    super(message, code, options)
    this.status = status
  }
}

/** No bearer token was presented. */
export class UnauthorizedError extends TrackerError {
  override name = 'UnauthorizedError'
  constructor(message = 'missing bearer token') {
    super(message, 'ERR_UNAUTHORIZED', 401)
  }
}

/** A bearer token was presented but is wrong. */
export class ForbiddenError extends TrackerError {
  override name = 'ForbiddenError'
  constructor(message = 'invalid token') {
    super(message, 'ERR_FORBIDDEN', 403)
  }
}

/** A body or query failed its schema or a rule. */
export class ValidationError extends TrackerError {
  override name = 'ValidationError'
  readonly details: unknown
  constructor(message: string, details?: unknown) {
    super(message, 'ERR_VALIDATION', 400)
    this.details = details
  }
}

/** The entity does not exist. */
export class NotFoundError extends TrackerError {
  override name = 'NotFoundError'
  constructor(what: string) {
    super(`${what} not found`, 'ERR_NOT_FOUND', 404)
  }
}

/** The entity already exists or its state forbids the operation. */
export class ConflictError extends TrackerError {
  override name = 'ConflictError'
  constructor(message: string, code = 'ERR_CONFLICT') {
    super(message, code, 409)
  }
}

/** A version must be approved before it can be released. */
export class VersionNotApprovedError extends TrackerError {
  override name = 'VersionNotApprovedError'
  constructor(resource: string, version: number) {
    super(`${resource} v${version} is not approved`, 'ERR_VERSION_NOT_APPROVED', 409)
  }
}

/**
 * A removed version (a tombstone, `state/catalog.ts`) named where a version to release or
 * approve is wanted: its content is gone from the origin. Its own code, so that a client
 * tells it from a draft (`ERR_VERSION_NOT_APPROVED`), which approving would fix.
 */
export class VersionRemovedError extends ConflictError {
  override name = 'VersionRemovedError'
  constructor(
    v: { resource: string; version: number; removedAt?: number },
    cannotBe: 'released' | 'approved',
  ) {
    const at = v.removedAt === undefined ? '' : ` on ${new Date(v.removedAt).toISOString()}`
    super(
      `${v.resource} v${v.version} was removed${at} and cannot be ${cannotBe}: the origin no longer serves it; register and approve a new version (numbers are never reused)`,
      'ERR_VERSION_REMOVED',
    )
  }
}

/**
 * A version cannot be removed while something may still send it to a node or make a node
 * run it (`rollout/version-use.ts`): the message says what, with counts and release ids;
 * `details` says the same for a program. Nothing was changed.
 */
export class VersionInUseError extends ConflictError {
  override name = 'VersionInUseError'
  /** What uses it (a `VersionUse` of `rollout/version-use.ts`). */
  readonly details: unknown
  constructor(resource: string, version: number, why: string, details: unknown) {
    super(`${resource} v${version} is in use: ${why}`, 'ERR_VERSION_IN_USE')
    this.details = details
  }
}

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

/**
 * An issued enrollment token that has expired. Said only to a hello that holds its secret,
 * so that the operator of the node learns to ask for a new one.
 */
export class EnrollmentTokenExpiredError extends TrackerError {
  override name = 'EnrollmentTokenExpiredError'
  constructor(id: string, expiresAt: number) {
    super(
      `enrollment token ${id} expired at ${new Date(expiresAt).toISOString()}: ask the tracker's operator for a new one (POST /api/v1/enrollment-tokens, or dandelion enroll-token create)`,
      'ERR_ENROLLMENT_TOKEN_EXPIRED',
      401,
    )
  }
}

/** An issued enrollment token that has enrolled as many nodes as it may. */
export class EnrollmentTokenUsedUpError extends TrackerError {
  override name = 'EnrollmentTokenUsedUpError'
  constructor(id: string, maxUses: number) {
    super(
      `enrollment token ${id} has enrolled the ${maxUses} node(s) it was issued for: ask the tracker's operator for a new one`,
      'ERR_ENROLLMENT_TOKEN_USED_UP',
      401,
    )
  }
}

/** An issued enrollment token held to one campus, used for a node of another. */
export class EnrollmentTokenCampusError extends TrackerError {
  override name = 'EnrollmentTokenCampusError'
  constructor(id: string, tokenCampus: string, campus: string) {
    super(
      `enrollment token ${id} enrolls nodes into campus ${tokenCampus} only, not ${campus}: leave --campus out (or give ${tokenCampus}), or use a token for ${campus}`,
      'ERR_ENROLLMENT_TOKEN_CAMPUS',
      403,
    )
  }
}

/** A bounded collection is full. */
export class CapacityError extends TrackerError {
  override name = 'CapacityError'
  constructor(message: string) {
    super(message, 'ERR_CAPACITY', 503)
  }
}

/** An id is a name the tracker reserves (`__proto__`, `constructor`, `prototype`). */
export class ReservedIdError extends TrackerError {
  override name = 'ReservedIdError'
  constructor(kind: string, id: string) {
    super(`${kind} id ${JSON.stringify(id)} is reserved`, 'ERR_RESERVED_ID', 400)
  }
}

/**
 * A list's `?cursor` is not one the tracker returned (mangled, truncated, or made up). The
 * code is its own so that a client can tell it from a bad `?limit` and list again from the
 * start.
 */
export class InvalidCursorError extends TrackerError {
  override name = 'InvalidCursorError'
  constructor() {
    super(
      'cursor is not one this tracker returned: pass the `next` of the previous page as it is, or leave cursor out to list from the start',
      'ERR_INVALID_CURSOR',
      400,
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

/** A version's manifest CID is not a CIDv1 BLAKE3-256 dag-cbor (manifest) id. */
export class InvalidManifestCidError extends TrackerError {
  override name = 'InvalidManifestCidError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_MANIFEST_CID', 400, options)
  }
}

/** A version's MIME type is not `type/subtype` in token syntax. */
export class InvalidMimeTypeError extends TrackerError {
  override name = 'InvalidMimeTypeError'
  constructor(mime: string) {
    super(`invalid MIME type ${JSON.stringify(mime.slice(0, 100))}`, 'ERR_INVALID_MIME_TYPE', 400)
  }
}

/** A campus cannot be deleted while nodes or devices are in it. */
export class CampusInUseError extends ConflictError {
  override name = 'CampusInUseError'
  constructor(campus: string, nodes: number, devices: number) {
    super(`campus ${campus} still has ${nodes} node(s) and ${devices} device(s)`, 'ERR_CAMPUS_IN_USE')
  }
}

/** A node cannot be deleted while a running or paused release still waits on it. */
export class NodeInReleaseError extends ConflictError {
  override name = 'NodeInReleaseError'
  constructor(node: string, releases: string[]) {
    super(
      `node ${node} is still part of release(s) ${releases.join(', ')}: abort or finish them first`,
      'ERR_NODE_IN_RELEASE',
    )
  }
}

/** A node's hello claims a last sequence number the tracker cannot continue after. */
export class LastSeqOutOfRangeError extends TrackerError {
  override name = 'LastSeqOutOfRangeError'
  constructor(nodeId: string, lastSeq: number, max: number) {
    super(`node ${nodeId} claims last sequence ${lastSeq}, above ${max}`, 'ERR_LAST_SEQ_OUT_OF_RANGE', 400)
  }
}

/**
 * A change could not be saved (disk full, I/O error), or the tracker is reloading its state
 * after such a failure. Nothing of the change was applied: readers never saw it, and the
 * tracker goes on serving what is on disk. Retry once the disk is fixed.
 */
export class StateUnavailableError extends TrackerError {
  override name = 'StateUnavailableError'
  constructor(options?: ErrorOptions & { reloading?: boolean }) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : ''
    super(
      options?.reloading === true
        ? `the tracker is reloading its state after a failed write${cause}; retry the change`
        : `saving the tracker state failed${cause}; the change was not applied`,
      'ERR_STATE_UNAVAILABLE',
      503,
      options?.cause === undefined ? undefined : { cause: options.cause },
    )
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

/**
 * The tracker's data directory is in use: another tracker process (or another tracker in
 * this process) holds the lock of its state. One tracker is the single writer of its state;
 * a second one on the same directory cannot start until the first has stopped.
 */
export class StateLockedError extends DandelionError {
  override name = 'StateLockedError'
  /** The data directory. */
  readonly dir: string
  constructor(dir: string, options?: ErrorOptions) {
    super(
      `another tracker is running on ${dir}: its state (${dir}/state) is locked by that process; stop it first, or give this tracker its own --data-dir`,
      'ERR_STATE_LOCKED',
      options,
    )
    this.dir = dir
  }
}
