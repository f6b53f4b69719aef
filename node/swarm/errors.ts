/**
 * Typed errors of the swarm node. Match them by `name` or `code`, never by message.
 */
import { DandelionError, type QuotaExceededError } from '../errors.ts'
import { DiskFullError, diskFullCode } from '../store/disk-full.ts'

/** A frame on the exchange protocol is malformed, oversize or out of order. */
export class ProtocolError extends DandelionError {
  override name = 'ProtocolError'
  constructor(message: string) {
    super(message, 'ERR_SWARM_PROTOCOL')
  }
}

/** Fetching a manifest or chunk failed from every source; `errors` holds each cause. */
export class FetchFailedError extends AggregateError {
  override name = 'FetchFailedError'
  readonly code = 'ERR_FETCH_FAILED'
  constructor(message: string, errors: Error[] = []) {
    super(errors, message)
  }
}

/**
 * The node's store refused a verified chunk (its quota is full of content it must keep, the
 * disk is full or failing): the download stops instead of fetching the same bytes again
 * and again. What was stored stays; the next `fetch` (or a restart) carries on. `cause` is
 * the store's error. The message, shown in `GET /status`, says what the operator can do
 * where the cause is a lack of room: for a full disk it names the store's directory (from
 * the on-disk store's `DiskFullError`) and not the file system's own text, which can name a
 * file inside it; for a full quota, unpinning or `--quota-bytes`.
 */
export class StoreWriteError extends DandelionError {
  override name = 'StoreWriteError'
  readonly manifestCid: string
  /** The chunk refused; -1 for the manifest itself. */
  readonly index: number
  constructor(manifestCid: string, index: number, cause: Error) {
    const what = index < 0 ? 'the manifest' : `chunk ${index}`
    super(`cannot store ${what} of ${manifestCid}: ${refusal(cause)}`, 'ERR_STORE_WRITE', { cause })
    this.manifestCid = manifestCid
    this.index = index
  }
}

/** Why the store refused, and what frees room when room is what it lacks. */
function refusal(cause: Error): string {
  if (cause.name === 'QuotaExceededError') {
    if ((cause as QuotaExceededError).diskFloor !== undefined)
      return `${cause.message}: free space on that disk (what this node could evict is gone already), or lower --min-free-disk-bytes`
    return `${cause.message}: unpin content this node keeps, or raise --quota-bytes`
  }
  const dir = cause instanceof DiskFullError ? cause.dir : undefined
  const code = dir === undefined ? diskFullCode(cause) : (cause as DiskFullError).code
  if (code === undefined) return cause.message
  const where = dir === undefined ? "the node's data directory" : `the chunk store ${dir}`
  return (
    `no space left on the disk holding ${where} (${code}): free space on that disk, ` +
    'or lower --quota-bytes below the room it has so that the node stops short of filling it'
  )
}

/** The origin answered an HTTP request with an error status. */
export class OriginHttpError extends DandelionError {
  override name = 'OriginHttpError'
  readonly status: number
  constructor(url: string, status: number) {
    super(`origin answered ${status} for ${url}`, 'ERR_ORIGIN_HTTP')
    this.status = status
  }
}

/** The manifest is not known to this node. */
export class ManifestNotFoundError extends DandelionError {
  override name = 'ManifestNotFoundError'
  constructor(cid: string) {
    super(`manifest ${cid} not found`, 'ERR_MANIFEST_NOT_FOUND')
  }
}

/** A bound (swarms, peers, names) was reached. */
export class LimitReachedError extends DandelionError {
  override name = 'LimitReachedError'
  constructor(message: string) {
    super(message, 'ERR_LIMIT_REACHED')
  }
}
