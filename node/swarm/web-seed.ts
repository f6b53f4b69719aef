/**
 * Origin fallback, like a BitTorrent web seed: a chunk nobody in the swarm has, or that
 * peers fail to deliver in time, is fetched from the origin's `GET /chunks/:cid`. The
 * bytes are verified by the chunk store like any other.
 *
 * A failing origin (down, answering errors, timing out, or serving bytes that fail
 * verification) is backed off, node-wide: every swarm of the node leaves it alone for a
 * while that doubles with each failure in a row, so the nodes of a campus do not hammer an
 * origin that is already in trouble. Only verified bytes end it.
 *
 * The failures in a row are what `GET /status` shows as `origin.consecutiveFailures` (and
 * `/metrics` as `dandelion_node_origin_consecutive_failures`), which operators read as "the
 * origin is unreachable now". A count nothing would update — the node got the rest from
 * peers and asks the origin nothing more, or the origin's answer came after peers had
 * delivered that chunk, so nobody verified it — is brought up to date when read: once the
 * backoff has run out and no request is under way, reading the status asks the origin
 * again for the last chunk it was asked for (one request, through the same buckets,
 * verified against its CID like any other). A verified answer ends the backoff; another
 * failure extends it as any failure does, so this probe is never more frequent than the
 * backoff's retries. A probe failing after a newer request's bytes verified counts for
 * nothing (what it found out is older), and a probe does not outlive the node: stopping
 * the node aborts it, and a stopped node's status reads send none. Before session 16 the
 * count stayed at its last value for as long as the node ran.
 */
import type { CID } from 'multiformats/cid'
import { MAX_MANIFEST_BYTES } from '../constants.ts'
import { matchesCid } from '../content/cid.ts'
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

/** A chunk asked for again to learn whether the origin has recovered (see {@link WebSeed.status}). */
interface Probe {
  cid: CID
  path: string
  bytes: number
}

/** HTTP client of the origin's chunk and manifest routes. */
export class WebSeed {
  readonly url: string
  private readonly buckets: TokenBucket[]
  private readonly timeoutMs: number
  private readonly backoff: Backoff
  /** Requests to the origin under way (probes included). */
  private inflight = 0
  /** The last chunk asked for that the origin did not answer with 404: what a probe asks again. */
  private probeTarget?: Probe
  /** Aborted by {@link stop}: what no caller's signal bounds (a probe) ends with the node. */
  private life = new AbortController()
  /** Verified answers so far: a probe that fails after one more came in says nothing newer. */
  private successes = 0

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

  /**
   * The origin's state as last seen. While it counts failures that no request under way
   * will update, and its backoff has run out, this also asks the origin once (fire and
   * forget) for the last chunk asked for: the next read shows the result.
   */
  status(): WebSeedStatus {
    this.probeIfStale()
    return {
      url: this.url,
      consecutiveFailures: this.backoff.failures,
      backoffMs: Math.round(this.backoff.remainingMs),
    }
  }

  /** Lets a node started again probe again (see {@link stop}). */
  start(): void {
    if (this.life.signal.aborted) this.life = new AbortController()
  }

  /** Aborts a probe under way and sends no more, until {@link start}: the node is going. */
  stop(): void {
    this.life.abort()
  }

  /**
   * Records whether what the origin sent checked out. Only verified bytes end a backoff: an
   * origin answering 200 with bytes that fail verification is backed off like one that is down.
   */
  verified(ok: boolean): void {
    if (ok) {
      this.successes++
      this.backoff.success()
      this.probeTarget = undefined
    } else this.backoff.failure()
  }

  /** Fetches a chunk's bytes (unverified: the caller stores them through the verifying store). */
  async chunk(cid: CID, expectedBytes: number, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    const path = `/chunks/${cid.toString()}`
    this.inflight++
    try {
      for (const b of this.buckets) await b.take(expectedBytes, options)
      const bytes = await this.get(path, expectedBytes, options)
      // answered: whether its bytes verify, the caller says (`verified`), or a probe finds out
      this.probeTarget = { cid, path, bytes: expectedBytes }
      return bytes
    } catch (err) {
      // asking again for what the origin does not have tells nothing of its recovery
      if (options.signal?.aborted !== true && !(err instanceof OriginHttpError && err.status === 404))
        this.probeTarget = { cid, path, bytes: expectedBytes }
      throw err
    } finally {
      this.inflight--
    }
  }

  /**
   * Fetches a manifest's bytes (unverified). Never probed again by {@link status}: the
   * manifest lookup asks the origin again itself until it answers, and counts a manifest
   * signed by a key the node does not trust as a failure, which bytes matching their CID
   * would not show.
   */
  async manifest(cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    this.inflight++
    try {
      return await this.get(`/manifests/${cid.toString()}`, MAX_MANIFEST_BYTES, options)
    } finally {
      this.inflight--
    }
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

  /** Starts a probe (see {@link status}) when the failure count is stale and one may be sent. */
  private probeIfStale(): void {
    const target = this.probeTarget
    if (
      target === undefined ||
      this.life.signal.aborted ||
      this.backoff.failures === 0 ||
      !this.backoff.ready ||
      this.inflight > 0
    )
      return
    this.inflight++
    this.probe(target)
      .catch(() => {}) // counted as a failure (or not at all, for a 404) in `probe`
      .finally(() => {
        this.inflight--
      })
  }

  /**
   * Asks the origin again for `target`, verified against its CID: "only verified bytes end
   * the backoff", so an origin answering 200 with bad bytes stays backed off.
   */
  private async probe(target: Probe): Promise<void> {
    // nobody waits for a probe: bounded on its own, bucket wait included, and by the node's life
    const life = this.life.signal
    const signal = AbortSignal.any([life, AbortSignal.timeout(this.timeoutMs)])
    const successes = this.successes
    try {
      for (const b of this.buckets) await b.take(target.bytes, { signal })
    } catch {
      return // our own buckets ran out of time (or the node stopped): nothing of the origin
    }
    let bytes: Uint8Array
    try {
      bytes = await this.request(target.path, target.bytes, { signal })
    } catch (err) {
      // the node stopped: that says nothing about the origin
      if (life.aborted) return
      // the origin answers but no longer has it: nothing more to learn from this one
      if (err instanceof OriginHttpError && err.status === 404) {
        if (this.probeTarget === target) this.probeTarget = undefined
        return
      }
      // a newer request's bytes verified meanwhile: this failure is older news
      if (this.successes === successes) this.backoff.failure()
      return
    }
    if (life.aborted) return
    const ok = matchesCid(target.cid, bytes)
    if (ok || this.successes === successes) this.verified(ok)
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
