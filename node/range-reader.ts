/**
 * Reading content for a player: a byte range, chunk by chunk in order, each chunk waited
 * for (a swarm asks first for what a reader waits on) and fetched again if it left the store
 * meanwhile. Content being read counts as in use: it is not evicted to make room, and is
 * the last to go afterwards.
 */
import type { Logger } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { type Manifest, parseCid } from './content/index.ts'
import type { ManifestLoader } from './manifest-loader.ts'
import type { Recency } from './recency.ts'
import type { ChunkStore } from './store/index.ts'
import type { Swarm } from './swarm/swarm.ts'

/** Live things {@link RangeReader} uses, all the node's own. */
export interface RangeReaderComponents {
  store: Pick<ChunkStore, 'get'>
  manifests: Pick<ManifestLoader, 'get'>
  /** The swarm of a manifest, joined on first use. */
  swarm: (cid: CID) => Swarm
  /** When each manifest was last fetched or played: a read counts as a use, start and end. */
  recency: Pick<Recency, 'touch'>
  log: Logger
}

/** Reads content of one node (see the module comment). */
export class RangeReader {
  private readonly c: RangeReaderComponents

  constructor(components: RangeReaderComponents) {
    this.c = components
  }

  /** See `DandelionNode.read`. */
  async *read(
    manifestCid: CID | string,
    start: number,
    end: number,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<Uint8Array> {
    const { recency } = this.c
    const cid = typeof manifestCid === 'string' ? parseCid(manifestCid, 'manifest') : manifestCid
    const m = await this.c.manifests.get(cid, options)
    const swarm = this.c.swarm(cid)
    // content being played is not evicted to make room, and is the last to go afterwards;
    // counted before any wait, so an eviction deciding in the meantime sees the player
    swarm.openReads++
    recency.touch(swarm.key)
    try {
      await swarm.setManifest(m)
      for (let i = Math.floor(start / m.chunkSize); i <= Math.floor(end / m.chunkSize); i++) {
        const bytes = await this.readChunk(swarm, m, i, options)
        const chunkStart = i * m.chunkSize
        const from = Math.max(start - chunkStart, 0)
        const to = Math.min(end - chunkStart + 1, bytes.byteLength)
        yield from === 0 && to === bytes.byteLength ? bytes : bytes.subarray(from, to)
      }
    } finally {
      swarm.openReads--
      // in use until the read ends, not only when it began: a lesson a class watched for an
      // hour while other lessons were placed was otherwise the first to go once it ended
      // (unless it left the node meanwhile, whose order it must not re-enter)
      if (!swarm.stopped) recency.touch(swarm.key)
    }
  }

  /** Chunk `index` for a reader: waited for, and fetched again if it left the store meanwhile. */
  private async readChunk(
    swarm: Swarm,
    m: Manifest,
    index: number,
    options: { signal?: AbortSignal },
  ): Promise<Uint8Array> {
    for (;;) {
      await swarm.waitForChunk(index, options)
      try {
        return await this.c.store.get(m.chunks[index], options)
      } catch (err) {
        if ((err as Error).name !== 'ChunkNotFoundError' || swarm.stopped) throw err
        this.c.log('chunk %d of %s left the store: fetching it again', index, swarm.key)
        swarm.lost(index)
      }
    }
  }
}
