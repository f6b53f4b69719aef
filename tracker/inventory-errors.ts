/**
 * Typed errors of the inventory and of enrollment: an issued enrollment token that expired,
 * is used up or is for another campus, a campus or node that cannot be deleted yet, and a
 * hello whose last sequence number the tracker cannot continue after.
 */
import { ConflictError, TrackerError } from './base-errors.ts'

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
