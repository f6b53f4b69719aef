/**
 * Origin fallback, like a BitTorrent web seed: a chunk nobody in the swarm has, or that
 * peers fail to deliver in time, is fetched from the origin's `GET /chunks/:cid`. The
 * bytes are verified by the chunk store like any other.
 */
import type { CID } from 'multiformats/cid'
import { MAX_MANIFEST_BYTES } from '../constants.ts'
import type { TokenBucket } from '../limiter/index.ts'
import { ORIGIN_REQUEST_TIMEOUT_MS } from '../node-constants.ts'
import { OriginHttpError } from './errors.ts'

/** Options of {@link WebSeed}. */
export interface WebSeedInit {
  /** Origin base URL, e.g. `http://127.0.0.1:8080`. */
  url: string
  /** Buckets the bytes are taken from (the origin/WAN bucket and the download bucket). */
  buckets?: TokenBucket[]
  /** @default 30 s */
  timeoutMs?: number
}

/** HTTP client of the origin's chunk and manifest routes. */
export class WebSeed {
  readonly url: string
  private readonly buckets: TokenBucket[]
  private readonly timeoutMs: number

  constructor(init: WebSeedInit) {
    this.url = init.url.replace(/\/+$/, '')
    this.buckets = init.buckets ?? []
    this.timeoutMs = init.timeoutMs ?? ORIGIN_REQUEST_TIMEOUT_MS
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
