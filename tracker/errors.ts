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

/** The operation is not allowed in the release's current status. */
export class InvalidReleaseStateError extends TrackerError {
  override name = 'InvalidReleaseStateError'
  constructor(op: string, status: string) {
    super(`cannot ${op} a release that is ${status}`, 'ERR_INVALID_RELEASE_STATE', 409)
  }
}

/** A bounded collection is full. */
export class CapacityError extends TrackerError {
  override name = 'CapacityError'
  constructor(message: string) {
    super(message, 'ERR_CAPACITY', 503)
  }
}
