/**
 * What a node holds and serves, manifest by manifest: content seeded (announced and
 * served from the store), unseeded (its swarm left, its chunks kept), pinned against
 * eviction, and evicted (its swarm left, its download forgotten, its chunks no other
 * content lists deleted). Downloads are `downloads.ts`'s; making room is `eviction.ts`'s.
 */
import type { CID } from 'multiformats/cid'
import type { Manifest } from './content/index.ts'
import type { Downloads } from './downloads.ts'
import type { ContentEviction } from './eviction.ts'
import type { ManifestLoader } from './manifest-loader.ts'
import type { Recency } from './recency.ts'
import type { ChunkStore } from './store/index.ts'
import type { SwarmNetwork } from './swarm/network.ts'
import type { Swarm } from './swarm/swarm.ts'

/** Live things {@link NodeContent} uses, all the node's own. */
export interface NodeContentComponents {
  store: ChunkStore
  manifests: Pick<ManifestLoader, 'add' | 'get' | 'peek' | 'forget'>
  network: Pick<SwarmNetwork, 'swarms' | 'leave'>
  /** When each manifest was last fetched or played: content gone is forgotten there too. */
  recency: Pick<Recency, 'forget'>
  eviction: Pick<ContentEviction, 'roomless' | 'deleteContent'>
  downloads: Pick<Downloads, 'forget'>
  /** The swarm of a manifest, joined on first use. */
  swarm: (cid: CID) => Swarm
}

/** Seeds, pins and evicts one node's content (see the module comment). */
export class NodeContent {
  private readonly c: NodeContentComponents

  constructor(components: NodeContentComponents) {
    this.c = components
  }

  /** Announces and serves content whose chunks are already in the store; the manifest is stored too. */
  async seed(manifest: Manifest): Promise<void> {
    // a hash-pool store takes ownership of what it is given (and Buffer#slice does not copy): hand it a copy
    if (!(await this.c.store.has(manifest.cid)))
      await this.c.store.put(manifest.cid, new Uint8Array(manifest.bytes))
    this.c.manifests.add(manifest)
    const swarm = this.c.swarm(manifest.cid)
    await swarm.setManifest(manifest)
  }

  /** Leaves the manifest's swarm and forgets the manifest; its chunks stay in the store. */
  unseed(cid: CID): void {
    const key = cid.toString()
    this.c.network.leave(key)
    this.c.manifests.forget(cid)
    this.c.recency.forget(key)
  }

  /** Pins a manifest (got and verified first) and its chunks, so they are never evicted. */
  async pin(cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    const m = await this.c.manifests.get(cid, { signal: options.signal, capped: false })
    await this.c.store.pin(m.cid.toString(), [m.cid, ...m.chunks], options)
  }

  /** Removes the pin of a manifest. */
  async unpin(cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.c.store.unpin(cid.toString(), options)
  }

  /**
   * Leaves the manifest's swarm, forgets it and its download, and deletes it with its
   * unpinned chunks that no other content lists.
   */
  async evict(cid: CID, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { store, manifests, network } = this.c
    const key = cid.toString()
    // what is known or held, without looking for it: an unknown manifest has no chunks here
    const m =
      manifests.peek(cid) ??
      ((await store.has(cid))
        ? await manifests.get(cid, { signal: options.signal, capped: false }).catch(() => undefined)
        : undefined)
    const swarm = network.swarms.get(key)
    network.leave(key)
    manifests.forget(cid)
    this.c.recency.forget(key)
    this.c.eviction.roomless.delete(key)
    await store.unpin(key, options)
    await this.c.downloads.forget(key, options)
    // chunks the swarm was still storing land after it left: wait for them, so they go too
    await swarm?.putsSettled()
    await this.c.eviction.deleteContent(cid, m, options)
  }
}
