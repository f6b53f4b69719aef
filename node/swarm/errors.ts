/**
 * Typed errors of the swarm node. Match them by `name` or `code`, never by message.
 */
import { DandelionError } from '../errors.ts'

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
 * the store's error.
 */
export class StoreWriteError extends DandelionError {
  override name = 'StoreWriteError'
  readonly manifestCid: string
  /** The chunk refused; -1 for the manifest itself. */
  readonly index: number
  constructor(manifestCid: string, index: number, cause: Error) {
    const what = index < 0 ? 'the manifest' : `chunk ${index}`
    super(`cannot store ${what} of ${manifestCid}: ${cause.message}`, 'ERR_STORE_WRITE', { cause })
    this.manifestCid = manifestCid
    this.index = index
  }
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
