/**
 * A node's cache of content: whole manifests evicted least recently used first when the
 * node's store runs out of room (its quota, or its disk's free-space floor), downloads given up when nothing more can go, and the
 * deletion of a manifest with the chunks no other content lists. Used by the node for
 * `evict` and as its store's `makeRoom`.
 */
import type { Logger } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { DAG_CBOR_CODEC } from './constants.ts'
import type { Manifest } from './content/index.ts'
import { type DiskFloorInfo, QuotaExceededError } from './errors.ts'
import type { ManifestLoader } from './manifest-loader.ts'
import type { Recency } from './recency.ts'
import type { ChunkStore } from './store/index.ts'
import { StoreWriteError } from './swarm/errors.ts'
import type { SwarmNetwork } from './swarm/network.ts'
import type { Swarm } from './swarm/swarm.ts'

/** Live things {@link ContentEviction} uses, all the node's own. */
export interface ContentEvictionComponents {
  store: ChunkStore
  network: Pick<SwarmNetwork, 'swarms' | 'leave'>
  manifests: Pick<ManifestLoader, 'forget' | 'peek'>
  /** When each manifest was last fetched or played: what eviction goes by. */
  recency: Pick<Recency, 'get' | 'forget'>
  log: Logger
  /** Checks a manifest read back from the store. */
  verify: (cid: CID, bytes: Uint8Array) => Promise<Manifest>
  /** Fetches in progress by manifest CID. */
  fetching: ReadonlyMap<string, number>
  /** Whether the node is stopping: deletions under way stop. */
  stopping: () => boolean
  /** The free-space floor of the node's on-disk store, if it has one. */
  diskFloor?: DiskFloorInfo
}

/** Evicts and deletes content for one node. */
export class ContentEviction {
  /**
   * Downloads given up for lack of room (by manifest CID), until fetched again or evicted:
   * their partial chunks may go to make room, `want:` pin or not (at most one per swarm joined).
   */
  readonly roomless = new Set<string>()
  private readonly c: ContentEvictionComponents

  constructor(components: ContentEvictionComponents) {
    this.c = components
  }

  /**
   * Frees room in the node's store: deletes whole manifests, least recently used first,
   * skipping what is pinned (by the user, or as a download in progress), being played, or
   * what `chunk` (the one being stored) belongs to. A download given up for lack of room
   * is no longer in progress: its partial chunks may go.
   *
   * When not enough can be freed, the store refuses `chunk`: the downloads it belongs to
   * are given up here, before the next call runs, so that a download racing them for the
   * room evicts their partial chunks instead of failing too (each holding part of the quota,
   * both failed, and neither could ever evict the other's chunks).
   */
  async makeRoom(shortBy: () => number, options: { signal?: AbortSignal }, chunk?: string): Promise<void> {
    const { store, network, fetching, recency } = this.c
    const lists = (s: Swarm): boolean =>
      chunk !== undefined && s.manifest?.chunks.some((c) => c.toString() === chunk) === true
    const claimed = (s: Swarm): boolean =>
      this.roomless.has(s.key) ? store.pins().includes(s.key) : fetching.has(s.key) || store.isPinned(s.cid)
    const evictable = (s: Swarm): boolean =>
      network.swarms.get(s.key) === s &&
      s.manifest !== undefined &&
      s.openReads === 0 &&
      !claimed(s) &&
      !lists(s)
    // least recently used first, by the order kept across restarts (never used since: first)
    const lastUse = (s: Swarm): number => recency.get(s.key) ?? 0
    const candidates = [...network.swarms.values()].filter(evictable).sort((a, b) => lastUse(a) - lastUse(b))
    for (const s of candidates) {
      if (shortBy() <= 0) return
      // asked again: while the one before was deleted, this one may have been pinned,
      // played, fetched or evicted
      if (!evictable(s)) continue
      this.c.log('evicting %s (%s) to make room', s.key, s.manifest?.name ?? 'unnamed')
      await this.drop(s, options)
    }
    if (shortBy() > 0 && chunk !== undefined) this.giveUp(chunk, shortBy())
  }

  /**
   * Deletes a manifest whose swarm left, and its chunks that no other content here lists
   * (versions of a lesson share chunks; one may be playing). Stops if the manifest is
   * asked for again meanwhile. A swarm joined while it ran marks what went as missing.
   */
  async deleteContent(cid: CID, m: Manifest | undefined, options: { signal?: AbortSignal }): Promise<void> {
    const { store, network, stopping } = this.c
    const key = cid.toString()
    const before = new Set(network.swarms.values())
    const used = await this.chunksInUse(key)
    for (const c of m?.chunks ?? []) {
      if (network.swarms.has(key) || stopping()) break
      if (!used.has(c.toString())) await store.delete(c, options)
    }
    if (!network.swarms.has(key) && !stopping()) await store.delete(cid, options)
    for (const s of network.swarms.values()) {
      if (before.has(s) || s.manifest === undefined) continue
      for (const [i, c] of s.manifest.chunks.entries()) if (!(await store.has(c))) s.lost(i)
    }
  }

  /**
   * The store is about to refuse `chunk` for lack of room: the downloads (and reads) waiting
   * for it stop, and count as given up for lack of room (see {@link roomless}).
   */
  private giveUp(chunk: string, shortBy: number): void {
    for (const s of this.c.network.swarms.values()) {
      const index = s.manifest?.chunks.findIndex((c) => c.toString() === chunk) ?? -1
      if (index < 0 || s.stopped || s.have?.has(index) === true) continue
      this.roomless.add(s.key)
      s.refuse(new StoreWriteError(s.key, index, this.noRoom(shortBy)))
    }
  }

  /** Why the store has no room for `shortBy` more bytes: its quota, or its disk's free-space floor. */
  private noRoom(shortBy: number): QuotaExceededError {
    const { quotaBytes, limitBytes } = this.c.store.usage()
    const floor = this.c.diskFloor
    if (limitBytes === undefined || floor === undefined)
      return new QuotaExceededError(
        `${shortBy} bytes short of room in the quota of ${quotaBytes} bytes, and nothing more can be evicted`,
      )
    return new QuotaExceededError(
      `${shortBy} bytes short of room: the disk of ${floor.dir} keeps ${floor.minFreeBytes} bytes free, and nothing more can be evicted`,
      { diskFloor: floor },
    )
  }

  /**
   * Evicts an unpinned swarm's content to make room. Unlike the node's `evict` it removes
   * no pin (one made meanwhile keeps its chunks: the store checks pins as it deletes) and
   * does not wait for the swarm's puts under way, which may wait for this very room: chunks
   * they store are deleted once they land.
   */
  private async drop(swarm: Swarm, options: { signal?: AbortSignal }): Promise<void> {
    const m = swarm.manifest
    this.c.network.leave(swarm.key)
    this.c.manifests.forget(swarm.cid)
    this.c.recency.forget(swarm.key)
    this.roomless.delete(swarm.key)
    await this.deleteContent(swarm.cid, m, options)
    swarm
      .putsSettled()
      .then(async () => await this.deleteContent(swarm.cid, m, {}))
      .catch((err: Error) => this.c.log('deleting late chunks of %s: %s', swarm.key, err.message))
  }

  /** The chunks of every manifest known here but `except`: swarms' and those held in the store. */
  private async chunksInUse(except: string): Promise<Set<string>> {
    const { store, network, manifests } = this.c
    const used = new Set<string>()
    const add = (m: Manifest): void => {
      for (const c of m.chunks) used.add(c.toString())
    }
    for (const s of network.swarms.values()) if (s.key !== except && s.manifest !== undefined) add(s.manifest)
    for await (const c of store.list()) {
      const key = c.toString()
      if (c.code !== DAG_CBOR_CODEC || key === except || network.swarms.get(key)?.manifest !== undefined)
        continue
      // held but not seeded (yet): read from the store only, never looked up elsewhere
      const held =
        manifests.peek(c) ??
        (await store
          .get(c)
          .then(async (bytes) => await this.c.verify(c, bytes))
          .catch(() => undefined))
      if (held !== undefined) add(held)
    }
    return used
  }
}
