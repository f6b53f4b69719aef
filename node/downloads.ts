/**
 * A node's downloads: each one recorded in the store (a `want:` pin holding the manifest)
 * before its lookup begins, so that a node stopped or killed midway carries on at its next
 * start, and forgotten when it cannot or need not go on (the caller gave up, the manifest
 * does not verify, the quota has no room for it).
 */
import type { Logger } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Manifest } from './content/index.ts'
import { QuotaExceededError } from './errors.ts'
import type { FetchFailures } from './fetch-failures.ts'
import type { FetchOptions } from './index.ts'
import { abortable, type ManifestLoader } from './manifest-loader.ts'
import type { Recency } from './recency.ts'
import type { ChunkStore } from './store/index.ts'
import { StoreWriteError } from './swarm/errors.ts'
import type { Swarm } from './swarm/swarm.ts'

/** Pin key prefix that marks a download not finished yet (the pin holds the manifest). */
const WANT_PIN_PREFIX = 'want:'

/** Whether a download failed for lack of room in the quota (not a disk or I/O failure). */
const outOfRoom = (err: unknown): boolean =>
  (err as Error)?.name === 'QuotaExceededError' ||
  ((err as Error)?.name === 'StoreWriteError' &&
    ((err as Error).cause as Error)?.name === 'QuotaExceededError')

/** Live things {@link Downloads} uses, all the node's own. */
export interface DownloadsComponents {
  store: ChunkStore
  manifests: Pick<ManifestLoader, 'get'>
  /** When each manifest was last fetched or played: a fetch counts as a use. */
  recency: Pick<Recency, 'touch'>
  /** Downloads given up for lack of room (the eviction's): a fetch claims its content again. */
  roomless: Set<string>
  fetchFailures: FetchFailures
  /**
   * Fetches in progress by manifest CID, counted here and read by the eviction: the last
   * fetch to give up forgets the download.
   */
  fetching: Map<string, number>
  /** The swarm of a manifest, joined on first use. */
  swarm: (cid: CID) => Swarm
  /** Whether the node is stopping: the lookups it ends are not downloads to forget. */
  stopping: () => boolean
  log: Logger
}

/** The downloads of one node (see the module comment). */
export class Downloads {
  private readonly c: DownloadsComponents

  constructor(components: DownloadsComponents) {
    this.c = components
  }

  /** The manifest CIDs of the downloads a stop or a crash interrupted, to resume at start. */
  interrupted(): string[] {
    return this.c.store
      .pins()
      .filter((key) => key.startsWith(WANT_PIN_PREFIX))
      .map((key) => key.slice(WANT_PIN_PREFIX.length))
  }

  /** Forgets the download of `key` (a manifest CID), finished or not: the content is evicted. */
  async forget(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.c.store.unpin(WANT_PIN_PREFIX + key, options)
  }

  /** See `DandelionNode.fetch`. */
  async fetch(cid: CID, options: FetchOptions = {}): Promise<Manifest> {
    const { store, fetching } = this.c
    const key = cid.toString()
    const wanted = WANT_PIN_PREFIX + key
    const swarm = this.c.swarm(cid)
    this.c.recency.touch(key)
    // asked again: its chunks are wanted again, and kept (set before any wait, so no eviction slips in)
    this.c.roomless.delete(key)
    this.c.fetchFailures.clear(key)
    if (options.onProgress !== undefined) swarm.onProgress = options.onProgress
    // recorded before the lookup, which can take long (the manifest may not be out yet):
    // a node stopped or killed meanwhile still carries on at start
    if (!swarm.complete) await store.pin(wanted, [cid])
    options.onRecorded?.()
    fetching.set(key, (fetching.get(key) ?? 0) + 1)
    let found = false
    try {
      // an operator's or the tracker's download: not held to the cap on lookups anyone can start
      const manifest = await this.c.manifests.get(cid, { signal: options.signal, capped: false })
      found = true
      // content larger than the whole quota never fits: say so before evicting anything for it
      const { quotaBytes } = store.usage()
      await swarm.setManifest(manifest)
      if (manifest.size + manifest.bytes.byteLength > quotaBytes) {
        const err = new QuotaExceededError(
          `${manifest.name ?? key} is ${manifest.size + manifest.bytes.byteLength} bytes, more than this node's whole quota of ${quotaBytes} bytes`,
        )
        // reported in status too, as a refused chunk is: `dandelion fetch` follows it there;
        // and counted with refused writes (metrics, the tracker's health report)
        swarm.refuse(err)
        store.countRefusal?.()
        throw err
      }
      // the manifest is what re-seeds and resumes the content at start: no download without it
      if (!(await store.has(cid))) {
        try {
          await store.put(cid, new Uint8Array(manifest.bytes), options)
        } catch (cause) {
          const err = new StoreWriteError(key, -1, cause as Error)
          swarm.refuse(err)
          throw err
        }
      }
      swarm.want()
      options.onProgress?.(swarm.progress())
      await abortable(swarm.done.promise, options.signal)
      await store.unpin(wanted)
      return manifest
    } catch (err) {
      // Forget the download when the caller gave up or the manifest cannot be had (it does
      // not verify), unless another fetch of it goes on. A stop, or a failure once the
      // manifest is known (a disk or I/O error), keeps it for the next start.
      // One that failed for lack of room lets its claim go too: two downloads each holding
      // part of the quota could otherwise never evict each other's chunks, and every retry
      // and restart failed again. Its partial chunks may go to make room; the next fetch
      // resumes from what is left. Content the user pinned cannot go: it keeps its claim.
      const stopping = this.c.stopping()
      const roomless =
        !stopping && (this.c.roomless.has(key) || outOfRoom(err)) && !store.pins().includes(key)
      const forget = options.signal?.aborted === true || (!found && !stopping) || roomless
      if (forget && fetching.get(key) === 1) await store.unpin(wanted)
      if (options.signal?.aborted !== true) this.c.fetchFailures.record(key, err)
      throw err
    } finally {
      const n = (fetching.get(key) ?? 1) - 1
      if (n > 0) fetching.set(key, n)
      else fetching.delete(key)
    }
  }
}
