/**
 * Typed errors of the operator tokens (`state/operator-tokens.ts`), beside the tracker's
 * others in `errors.ts`: each with a stable `name`, `code` and HTTP `status`.
 */
import { ConflictError, ForbiddenError, TrackerError } from './errors.ts'

const iso = (ms: number): string => new Date(ms).toISOString()

/**
 * An operator token that was revoked. Said only to a request holding its secret, so that
 * its holder learns to ask for a new one rather than retry.
 */
export class OperatorTokenRevokedError extends TrackerError {
  override name = 'OperatorTokenRevokedError'
  constructor(operator: string, revokedAt: number) {
    super(
      `the operator token of ${operator} was revoked at ${iso(revokedAt)}: ask the tracker's administrator for a new one (dandelion operator create)`,
      'ERR_OPERATOR_TOKEN_REVOKED',
      401,
    )
  }
}

/** An operator token past its expiry. Said only to a request holding its secret. */
export class OperatorTokenExpiredError extends TrackerError {
  override name = 'OperatorTokenExpiredError'
  constructor(operator: string, expiresAt: number) {
    super(
      `the operator token of ${operator} expired at ${iso(expiresAt)}: ask the tracker's administrator for a new one (dandelion operator create)`,
      'ERR_OPERATOR_TOKEN_EXPIRED',
      401,
    )
  }
}

/** An operator token is issued for a name that already has an active one. */
export class OperatorNameInUseError extends ConflictError {
  override name = 'OperatorNameInUseError'
  constructor(operator: string) {
    super(
      `operator ${operator} already has an active token: revoke it first (DELETE /api/v1/operators/${operator}, dandelion operator revoke ${operator}), or choose another name`,
      'ERR_OPERATOR_NAME_IN_USE',
    )
  }
}

/**
 * A request the operator's token may not make: a viewer's changes anything, or an admin
 * operator's issues or revokes operator tokens (only the tracker's own admin token does).
 * The code is the viewer token's (`ERR_FORBIDDEN`), so clients matching it still do.
 */
export class OperatorForbiddenError extends ForbiddenError {
  override name = 'OperatorForbiddenError'
  constructor(operator: string, why: 'viewer' | 'operators') {
    super(
      why === 'viewer'
        ? `operator ${operator} holds a viewer token, which only reads: this needs an admin token`
        : `operator tokens are issued and revoked with the tracker's own admin token only (--admin-token), not operator ${operator}'s`,
    )
  }
}

/** No token of the operator is left to revoke: none was issued, or each was revoked. */
export class OperatorNotFoundError extends TrackerError {
  override name = 'OperatorNotFoundError'
  constructor(operator: string, revokedAt?: number) {
    super(
      revokedAt === undefined
        ? `operator ${operator} not found: it has no token (dandelion operator list)`
        : `operator ${operator} has no token left to revoke: its last was revoked at ${iso(revokedAt)}`,
      'ERR_NOT_FOUND',
      404,
    )
  }
}
