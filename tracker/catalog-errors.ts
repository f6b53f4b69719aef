/**
 * Typed errors of the catalog's versions (`state/catalog.ts`): one not approved, removed or
 * still in use, and a registration whose manifest CID or MIME type is malformed.
 */
import { ConflictError, TrackerError } from './base-errors.ts'

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
