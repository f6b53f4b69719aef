/**
 * Origin fallback, like a BitTorrent web seed: a chunk nobody in the swarm has, or that
 * peers fail to deliver in time, is fetched from the origin's `GET /chunks/:cid`. The
 * bytes are verified by the chunk store like any other.
 *
 * A failing origin (down, answering errors, timing out, or serving bytes that fail
 * verification) is backed off, node-wide: every swarm of the node leaves it alone for a
 * while that doubles with each failure in a row, so the nodes of a campus do not hammer an
 * origin that is already in trouble. Only verified bytes end it.
 */
import type { CID } from 'multiformats/cid'
import { MAX_MANIFEST_BYTES } from '../constants.ts'
import type { TokenBucket } from '../limiter/index.ts'
import {
  ORIGIN_BACKOFF_INITIAL_MS,
  ORIGIN_BACKOFF_MAX_MS,
  ORIGIN_REQUEST_TIMEOUT_MS,
} from '../node-constants.ts'
import { Backoff } from './backoff.ts'
import { OriginHttpError } from './errors.ts'

/** Options of {@link WebSeed}. */
export interface WebSeedInit {
  /** Origin base URL, e.g. `http://127.0.0.1:8080`. */
  url: string
  /** Buckets the bytes are taken from (the origin/WAN bucket and the download bucket). */
  buckets?: TokenBucket[]
  /** @default 30 s */
  timeoutMs?: number
  /** Backoff after failures. @default 0.5 s doubling to 30 s */
  backoff?: { initialMs: number; maxMs: number }
}

/** What {@link WebSeed.status} reports. */
export interface WebSeedStatus {
  url: string
  /** Failed requests since the last success. */
  consecutiveFailures: number
  /** Milliseconds until chunks are asked for again; 0 when they may be now. */
  backoffMs: number
}

/** HTTP client of the origin's chunk and manifest routes. */
export class WebSeed {
  readonly url: string
  private readonly buckets: TokenBucket[]
  private readonly timeoutMs: number
  private readonly backoff: Backoff

  constructor(init: WebSeedInit) {
    this.url = init.url.replace(/\/+$/, '')
    this.buckets = init.buckets ?? []
    this.timeoutMs = init.timeoutMs ?? ORIGIN_REQUEST_TIMEOUT_MS
    this.backoff = new Backoff(
      init.backoff ?? { initialMs: ORIGIN_BACKOFF_INITIAL_MS, maxMs: ORIGIN_BACKOFF_MAX_MS },
    )
  }

  /** Whether chunks may be asked for now: not while backing off after failures. */
  get available(): boolean {
    return this.backoff.ready
  }

  status(): WebSeedStatus {
    return {
      url: this.url,
      consecutiveFailures: this.backoff.failures,
      backoffMs: Math.round(this.backoff.remainingMs),
    }
  }

  /**
   * Records whether what the origin sent checked out. Only verified bytes end a backoff: an
   * origin answering 200 with bytes that fail verification is backed off like one that is down.
   */
  verified(ok: boolean): void {
    if (ok) this.backoff.success()
    else this.backoff.failure()
  }

  /** Fetches a chunk's bytes (unverified: the caller stores them through the verifying store). */
  async chunk(cid: CID, expectedBytes: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    for (const b of this.buckets) await b.take(expectedBytes, options)
    return await this.get(`/chunks/${cid.toString()}`, expectedBytes, options)
  }

  /** Fetches a manifest's bytes (unverified). */
  async manifest(cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    return await this.get(`/manifests/${cid.toString()}`, MAX_MANIFEST_BYTES, options)
  }

  private async get(path: string, maxBytes: number, options: { signal?: AbortSignal }): Promise<Uint8Array> {
    try {
      return await this.request(path, maxBytes, options)
    } catch (err) {
      // our own abort (a swarm stopping) says nothing about the origin
      if (options.signal?.aborted !== true) this.backoff.failure()
      throw err
    }
  }

  private async request(
    path: string,
    maxBytes: number,
    options: { signal?: AbortSignal },
  ): Promise<Uint8Array> {
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout])
    const res = await fetch(this.url + path, { signal })
    if (!res.ok) {
      await res.body?.cancel()
      throw new OriginHttpError(this.url + path, res.status)
    }
    const declared = Number(res.headers.get('content-length') ?? 0)
    if (declared > maxBytes) {
      await res.body?.cancel()
      throw new OriginHttpError(this.url + path, 502)
    }
    const bytes = new Uint8Array(await res.arrayBuffer())
    if (bytes.byteLength > maxBytes) throw new OriginHttpError(this.url + path, 502)
    return bytes
  }
}
