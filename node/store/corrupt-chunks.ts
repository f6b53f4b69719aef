/**
 * A store's reads checked against each chunk's CID, and what happens to a chunk whose bytes
 * are not what was stored (bit rot, a segment cut short under a running store): dropped,
 * pins or not (its pins stay: fetched again, it is pinned again), so that its owner fetches
 * it again rather than serving it. Read again before it is dropped, once no compaction or
 * delete runs: a copy stored meanwhile (fetched again after another reader dropped this one)
 * is kept. `BaseChunkStore` reads through this; `checked-read.ts` is the check itself.
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { CORRUPT, readAndCheck } from './checked-read.ts'
import type { ChunkSizes } from './chunk-sizes.ts'
import type { AbortOptions, ChunkCheck, Hasher } from './index.ts'

const log = logger('dandelion:store')

/** The store's parts {@link CheckedReads} uses. */
export interface CheckedReadsComponents {
  sizes: Pick<ChunkSizes, 'has' | 'get'>
  hasher: Hasher
  /** The store's raw read: the chunk's bytes as they are, or undefined when it has none. */
  readRaw(key: string, options: AbortOptions): Promise<Uint8Array | undefined>
  /** Runs `fn` when no compaction or delete runs (the store's lock). */
  exclusively<T>(fn: () => Promise<T>): Promise<T>
  /** Forgets a chunk and deletes its bytes (within `exclusively`). */
  remove(key: string): Promise<void>
  started(): boolean
  /** Whether every read is hashed (stores whose bytes can rot), or only {@link CheckedReads.verify}'s. */
  verifyReads(): boolean
}

/** See the module comment. */
export class CheckedReads {
  private readonly c: CheckedReadsComponents

  constructor(components: CheckedReadsComponents) {
    this.c = components
  }

  /** Reads a chunk, hashed when the store verifies reads: its bytes, {@link CORRUPT}, or undefined. */
  async read(cid: CID, options: AbortOptions): Promise<Uint8Array | typeof CORRUPT | undefined> {
    const read = () => this.c.readRaw(cid.toString(), options)
    return await readAndCheck(cid, read, this.c.verifyReads() ? this.c.hasher : undefined)
  }

  /** Reads a chunk back and hashes it, whatever the store's setting; a corrupt one is dropped. */
  async verify(cid: CID, options: AbortOptions): Promise<ChunkCheck> {
    const key = cid.toString()
    const size = this.c.sizes.get(key)
    if (size === undefined) return { state: 'missing', bytes: 0 }
    const bytes = await readAndCheck(cid, () => this.c.readRaw(key, options), this.c.hasher)
    if (bytes === undefined) return { state: 'missing', bytes: 0 }
    if (bytes !== CORRUPT) return { state: 'ok', bytes: size }
    await this.discard(cid)
    return { state: 'corrupt', bytes: size }
  }

  /** Drops a chunk found corrupt (see the module comment). */
  async discard(cid: CID): Promise<void> {
    const key = cid.toString()
    await this.c.exclusively(async () => {
      const again = () => readAndCheck(cid, () => this.c.readRaw(key, {}), this.c.hasher)
      if (!this.c.started() || !this.c.sizes.has(key) || (await again()) !== CORRUPT) return
      log.error('chunk %s is corrupt in the store: dropped, to be fetched again', key)
      await this.c.remove(key)
    })
  }
}
