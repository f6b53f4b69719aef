/**
 * HTTP errors of the origin: each has a stable `code` and a `statusCode`, and is sent
 * as `{ "error": { "code", "message" } }`.
 */
import { DandelionError } from '../node/errors.ts'

/** An error with an HTTP status. */
export class HttpError extends DandelionError {
  readonly statusCode: number
  constructor(statusCode: number, code: string, message: string, options?: ErrorOptions) {
    super(message, code, options)
    this.statusCode = statusCode
  }
}

/** Unknown resource, version, manifest or chunk. */
export class NotFoundError extends HttpError {
  override name = 'NotFoundError'
  constructor(message: string) {
    super(404, 'ERR_NOT_FOUND', message)
  }
}

/** A request parameter is malformed. */
export class BadRequestError extends HttpError {
  override name = 'BadRequestError'
  constructor(message: string, code = 'ERR_BAD_REQUEST') {
    super(400, code, message)
  }
}

/** No bearer token was sent. */
export class UnauthorizedError extends HttpError {
  override name = 'UnauthorizedError'
  constructor() {
    super(401, 'ERR_UNAUTHORIZED', 'a bearer token is required: Authorization: Bearer <token>')
  }
}

/** A bearer token was sent but is not valid. */
export class ForbiddenError extends HttpError {
  override name = 'ForbiddenError'
  constructor() {
    super(403, 'ERR_FORBIDDEN', 'the bearer token is not valid')
  }
}

/** The disk is (nearly) full: the upload can resume once space is freed. */
export class InsufficientStorageError extends HttpError {
  override name = 'InsufficientStorageError'
  constructor(message: string) {
    super(507, 'ERR_INSUFFICIENT_STORAGE', message)
  }
}

/** The whole-file checksum given at upload does not match the bytes received. */
export class ChecksumMismatchError extends HttpError {
  override name = 'ChecksumMismatchError'
  constructor(algorithm: string) {
    super(
      422,
      'ERR_CHECKSUM_MISMATCH',
      `the uploaded bytes do not match the ${algorithm} given in the metadata`,
    )
  }
}

/** Too many finished uploads wait for ingest. */
export class IngestBusyError extends HttpError {
  override name = 'IngestBusyError'
  constructor() {
    super(503, 'ERR_INGEST_BUSY', 'too many uploads are waiting to be ingested; retry later')
  }
}

/** The Range header cannot be satisfied. */
export class RangeNotSatisfiableError extends HttpError {
  override name = 'RangeNotSatisfiableError'
  constructor(size: number) {
    super(416, 'ERR_RANGE_NOT_SATISFIABLE', `range not satisfiable for ${size} bytes`)
  }
}

/**
 * A chunk a file lists is not in the store (deleted by a concurrent removal of the same
 * bytes, or lost to a power cut): nothing is published; a tus upload resumes from the
 * first missing chunk.
 */
export class MissingChunksError extends HttpError {
  override name = 'MissingChunksError'
  constructor(message: string) {
    super(500, 'ERR_MISSING_CHUNKS', message)
  }
}

/**
 * Whether `err` (or an error it wraps) says the disk is full. The file system reports
 * `ENOSPC` or `EDQUOT`; LevelDB (the store's index, the catalog) reports only an
 * `LEVEL_IO_ERROR` whose text carries the C library's message, so that text is the
 * one thing there is to match.
 */
export function isDiskFullError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code
    if (code === 'ENOSPC' || code === 'EDQUOT') return true
    if (code === 'LEVEL_IO_ERROR' && /No space left on device|Disk quota exceeded/.test(e.message))
      return true
  }
  return false
}

/** An upload grant is not valid here: malformed, from an untrusted issuer, badly signed or expired. */
export class InvalidGrantHttpError extends HttpError {
  override name = 'InvalidGrantHttpError'
  constructor(message: string) {
    super(403, 'ERR_INVALID_GRANT', message)
  }
}

/** The request goes beyond what its upload grant permits (another name, type, size or upload). */
export class GrantScopeError extends HttpError {
  override name = 'GrantScopeError'
  constructor(message: string) {
    super(403, 'ERR_GRANT_SCOPE', message)
  }
}

/**
 * The upload grant was used already: it creates one upload. The response's `Location` names
 * that upload, for its grant holder to look at (HEAD) and, while unfinished, start over (DELETE).
 */
export class GrantUsedError extends HttpError {
  override name = 'GrantUsedError'
  /** The upload the grant created. */
  readonly uploadId: string
  constructor(uploadId: string) {
    super(
      409,
      'ERR_GRANT_USED',
      `this upload grant was used already, for upload ${uploadId} (see Location): HEAD it for the version it published, or DELETE it while unfinished and create it again`,
    )
    this.uploadId = uploadId
  }
}

/** A grant holder tried to terminate its upload once every byte had arrived: the photo stays. */
export class GrantUploadFinishedError extends HttpError {
  override name = 'GrantUploadFinishedError'
  constructor(uploadId: string) {
    super(
      409,
      'ERR_GRANT_UPLOAD_FINISHED',
      `upload ${uploadId} is complete: an upload grant terminates only an unfinished upload; HEAD it for its version`,
    )
  }
}

/**
 * An upload's state cannot be read safely (an older origin's state that no chunk size makes
 * add up): nothing of it is given out. A tus client whose HEAD gets this 410 starts over
 * with a new upload; the old one expires, or its client may terminate it.
 */
export class UploadNotResumableError extends HttpError {
  override name = 'UploadNotResumableError'
  constructor(uploadId: string, reason: string) {
    super(
      410,
      'ERR_UPLOAD_NOT_RESUMABLE',
      `upload ${uploadId} cannot be resumed (${reason}); start the upload over with a new one`,
    )
  }
}

/** The tracker says a version is still in use (run by nodes, released, a rollback target): it is kept. */
export class VersionInUseError extends HttpError {
  override name = 'VersionInUseError'
  constructor(message: string) {
    super(409, 'ERR_VERSION_IN_USE', message)
  }
}

/**
 * Removing a version needs the tracker's word that no node uses it, and the tracker could
 * not give it (unreachable, erring, refusing the origin's token): nothing was removed.
 */
export class TrackerUnavailableError extends HttpError {
  override name = 'TrackerUnavailableError'
  constructor(message: string, options?: ErrorOptions) {
    super(503, 'ERR_TRACKER_UNAVAILABLE', message, options)
  }
}
