/**
 * The base of the tracker's typed errors ({@link TrackerError}: a stable `name`, a `code`
 * and the HTTP `status` the admin API answers with) and the generic ones every part of the
 * API may answer: authentication, validation, not found, conflict, capacity, reserved ids
 * and list cursors. Match them by name or code, never by message text.
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
