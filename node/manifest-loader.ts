/**
 * Finds a manifest the node does not hold: from whichever of the swarm's peers or the
 * origin answers first, verified against its CID and the trusted origin keys.
 *
 * One lookup per manifest, shared by everyone who asks, and owned by none of them: a
 * caller's signal ends only that caller's wait. The lookup lives while someone waits for
 * it. It keeps asking the origin through its outages (backing off as the web seed
 * does), stops asking it once the origin answers 404 (peers may still have the manifest),
 * and is abandoned when its last waiter gives up, so the node does not keep a swarm for
 * content nobody wants (a mistyped CID, a player that went away).
 *
 * A manifest signed by a key the node does not trust (a node started with the wrong
 * `--trusted-origin`) ends its lookup at once with {@link UntrustedManifestError}, logged
 * at error level once, and is not asked for again while the node runs: a CID names its
 * bytes, signature included, so every copy has the same signer, and the trusted keys are
 * fixed for the node's life. The lookup used to log it at debug level and ask the origin
 * again, for ever, while status showed nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@libp2p/interface'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import { type Manifest, verifyManifest } from './content/index.ts'
import { DandelionError } from './errors.ts'
import { MAX_MANIFEST_LOOKUPS } from './node-constants.ts'
import type { ChunkStore } from './store/index.ts'
import { LimitReachedError, OriginHttpError } from './swarm/errors.ts'
import type { WebSeed } from './swarm/web-seed.ts'

/** Manifests remembered as signed by an untrusted key; past it the oldest is forgotten. */
const MAX_UNTRUSTED_MANIFESTS = 256

/**
 * A manifest is signed by an origin key this node does not trust: it verifies otherwise
 * (bytes, signature), so it is the node's trusted keys, not the content, that refuse it.
 * Matched by `name` or `code`.
 */
export class UntrustedManifestError extends DandelionError {
  override name = 'UntrustedManifestError'
  /** The manifest's CID. */
  readonly manifestCid: string
  /** PeerId of the key that signed it: what its origin prints as "origin key". */
  readonly signer: string
  constructor(manifestCid: string, signer: string) {
    super(
      `manifest ${manifestCid} is signed by origin key ${signer}, which this node does not trust: ` +
        'is --trusted-origin (DANDELION_TRUSTED_ORIGINS, "trustedOrigins") the key its origin prints as "origin key"?',
      'ERR_MANIFEST_UNTRUSTED',
    )
    this.manifestCid = manifestCid
    this.signer = signer
  }
}

/** Live things the loader uses. */
export interface ManifestLoaderComponents {
  store: ChunkStore
  webSeed?: WebSeed
  log: Logger
  /** Verifies manifest bytes against the CID and the trusted origin keys. */
  verify(cid: CID, bytes: Uint8Array): Promise<Manifest>
  /** The manifest as the swarm's peers deliver it (the swarm joined and seeking). */
  fromPeers(cid: CID): Promise<Manifest>
  /** Nobody waits any more for a manifest that was not found: the swarm may go. */
  abandoned(cid: CID): void
}

/** Options of {@link ManifestLoader}. */
export interface ManifestLoaderInit {
  /** Shortest wait between two asks of the origin while it fails. @default 1000 */
  originRetryMs?: number
  /** Lookups at once that a capped {@link ManifestLoader.get} may start. @default MAX_MANIFEST_LOOKUPS */
  maxLookups?: number
}

/** Options of {@link ManifestLoader.get}. */
export interface ManifestGetOptions {
  signal?: AbortSignal
  /**
   * Refuse to start a lookup past `maxLookups` running ({@link LimitReachedError}): for
   * lookups anyone can start (playback). @default true
   */
  capped?: boolean
}

interface Lookup {
  readonly promise: Promise<Manifest>
  readonly abort: AbortController
  waiters: number
}

/** The manifests a node knows, and its lookups of those it does not. */
export class ManifestLoader {
  private readonly c: ManifestLoaderComponents
  private readonly retryMs: number
  private readonly maxLookups: number
  /** Verified manifests: held in the store, or found (removed by {@link forget}). */
  private readonly known = new Map<string, Manifest>()
  private readonly lookups = new Map<string, Lookup>()
  /** Manifests signed by an untrusted key, by CID: not looked for again. */
  private readonly untrusted = new Map<string, UntrustedManifestError>()

  constructor(components: ManifestLoaderComponents, init: ManifestLoaderInit = {}) {
    this.c = components
    this.retryMs = init.originRetryMs ?? 1000
    this.maxLookups = init.maxLookups ?? MAX_MANIFEST_LOOKUPS
  }

  /** The manifest if it is known already, without looking. */
  peek(cid: CID): Manifest | undefined {
    return this.known.get(cid.toString())
  }

  /** Records a verified manifest (one being seeded). */
  add(manifest: Manifest): void {
    this.known.set(manifest.cid.toString(), manifest)
  }

  /** Forgets a manifest (evicted), and stops looking for it. */
  forget(cid: CID): void {
    const key = cid.toString()
    this.known.delete(key)
    this.untrusted.delete(key)
    this.lookups.get(key)?.abort.abort(new Error('manifest evicted'))
    this.lookups.delete(key)
  }

  /** Stops every lookup. */
  stop(): void {
    for (const l of this.lookups.values()) l.abort.abort(new Error('node stopped'))
    this.lookups.clear()
  }

  /** The verified manifest: known, in the store, or looked up until found or `signal` aborts. */
  async get(cid: CID, options: ManifestGetOptions = {}): Promise<Manifest> {
    const key = cid.toString()
    const known = this.known.get(key)
    if (known !== undefined) return known
    const untrusted = this.untrusted.get(key)
    if (untrusted !== undefined) {
      // the caller may have joined the swarm to look for it: it has nothing to wait for
      this.c.abandoned(cid)
      throw untrusted
    }
    options.signal?.throwIfAborted()
    let lookup = this.lookups.get(key)
    if (lookup === undefined) {
      if (options.capped !== false && this.lookups.size >= this.maxLookups)
        throw new LimitReachedError(`more than ${this.maxLookups} manifest lookups at once`)
      const abort = new AbortController()
      const promise = this.find(cid, abort.signal).then(
        (m) => {
          this.known.set(key, m)
          return m
        },
        (err: unknown) => {
          if (this.lookups.get(key) === lookup) this.lookups.delete(key)
          throw err
        },
      )
      promise.catch(() => {})
      lookup = { promise, abort, waiters: 0 }
      this.lookups.set(key, lookup)
    }
    const mine = lookup
    mine.waiters++
    try {
      return await abortable(mine.promise, options.signal)
    } finally {
      mine.waiters--
      if (mine.waiters === 0 && !this.known.has(key)) {
        // the last one waiting gave up (or the lookup failed): stop looking
        mine.abort.abort(new Error('nobody waits for the manifest'))
        if (this.lookups.get(key) === mine) this.lookups.delete(key)
        this.c.abandoned(cid)
      } else if (this.known.has(key) && this.lookups.get(key) === mine) this.lookups.delete(key)
    }
  }

  private async find(cid: CID, signal: AbortSignal): Promise<Manifest> {
    const { store } = this.c
    if (await store.has(cid)) {
      let bytes: Uint8Array | undefined
      try {
        bytes = await store.get(cid, { signal })
        return await this.c.verify(cid, bytes)
      } catch (err) {
        // the stored copy rotted (the store dropped it) or went meanwhile: look for it as if never held
        if ((err as Error).name !== 'ChunkNotFoundError')
          throw (await this.untrustedSigner(cid, bytes, err)) ?? err
      }
    }
    const sources = [this.c.fromPeers(cid)]
    const decisive: Array<Promise<never>> = []
    if (this.c.webSeed !== undefined) {
      const fromOrigin = this.fromOrigin(this.c.webSeed, cid, signal)
      sources.push(fromOrigin)
      // an untrusted signer ends the lookup, peers or not: their copies have the same signer
      decisive.push(
        fromOrigin.then(
          () => new Promise<never>(() => {}),
          (err: unknown) =>
            err instanceof UntrustedManifestError ? Promise.reject(err) : new Promise<never>(() => {}),
        ),
      )
    }
    return await abortable(Promise.race([Promise.any(sources), ...decisive]), signal)
  }

  /**
   * The error for manifest bytes that failed `verify`, when what failed is trust alone:
   * they verify against their own signer, one the node does not trust. Recorded (the
   * manifest is not looked for again) and logged at error level, once per manifest.
   */
  private async untrustedSigner(
    cid: CID,
    bytes: Uint8Array | undefined,
    err: unknown,
  ): Promise<UntrustedManifestError | undefined> {
    if (bytes === undefined || (err as Error).name !== 'ManifestSignatureError') return undefined
    let signer: string
    try {
      signer = peerIdFromPublicKey((await verifyManifest(bytes, { cid })).origin).toString()
    } catch {
      // not even its own signature verifies: bad bytes, not an untrusted origin
      return undefined
    }
    const key = cid.toString()
    const known = this.untrusted.get(key)
    if (known !== undefined) return known
    const rejected = new UntrustedManifestError(key, signer)
    if (this.untrusted.size >= MAX_UNTRUSTED_MANIFESTS)
      this.untrusted.delete(this.untrusted.keys().next().value!)
    this.untrusted.set(key, rejected)
    this.c.log.error('%s', rejected.message)
    return rejected
  }

  /** Asks the origin until it answers with the manifest or with 404, or the lookup ends. */
  private async fromOrigin(web: WebSeed, cid: CID, signal: AbortSignal): Promise<Manifest> {
    for (;;) {
      let bytes: Uint8Array | undefined
      try {
        bytes = await web.manifest(cid, { signal })
      } catch (err) {
        signal.throwIfAborted()
        // the origin does not have it: only peers may
        if (err instanceof OriginHttpError && err.status === 404) throw err
        this.c.log('manifest %s from the origin: %s; asking again', cid, (err as Error).message)
      }
      if (bytes !== undefined) {
        let m: Manifest | undefined
        try {
          m = await this.c.verify(cid, bytes)
        } catch (err) {
          web.verified(false)
          const untrusted = await this.untrustedSigner(cid, bytes, err)
          // asking again would bring the same bytes, signed by the same key
          if (untrusted !== undefined) throw untrusted
          this.c.log('manifest %s from the origin rejected: %s', cid, (err as Error).message)
        }
        if (m !== undefined) {
          web.verified(true)
          // a store that refuses it (disk or quota full) must not leave the lookup pending:
          // the manifest is verified; `fetch` stores it and reports the failure
          if (!(await this.c.store.has(cid)))
            await this.c.store
              .put(cid, new Uint8Array(m.bytes))
              .catch((err: Error) => this.c.log('storing the manifest %s failed: %s', cid, err.message))
          return m
        }
      }
      await sleep(Math.max(this.retryMs, web.status().backoffMs), undefined, { signal })
    }
  }
}

/** Races a promise against an abort signal. */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return p
  signal.throwIfAborted()
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}
