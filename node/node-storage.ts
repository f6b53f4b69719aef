/**
 * Where a node keeps chunks: the store it was given (the origin's seeder shares the
 * origin's), or one of its own, on disk under its data directory or in memory, with its
 * quota, its disk's free-space floor, its hash workers and eviction to make room.
 */
import { join } from 'node:path'
import { HASH_POOL_IDLE_MS } from './constants.ts'
import { HashPool } from './content/index.ts'
import type { DandelionNodeInit } from './index.ts'
import { DEVICE_QUOTA_BYTES } from './node-constants.ts'
import { type ChunkStore, type ChunkStoreInit, FsChunkStore, MemoryChunkStore } from './store/index.ts'
import { ChunkBuffers } from './swarm/chunk-buffers.ts'

/** A node's chunk storage, as {@link nodeStorage} assembles it. */
export interface NodeStorage {
  store: ChunkStore
  /** Whether the node made the store, and so starts and stops it. */
  ownsStore: boolean
  /** Worker threads verifying received chunks (own store with `hashWorkers` only). */
  pool?: HashPool
  /** Shared-memory buffers received chunks are assembled in (on-disk stores only), for every swarm. */
  chunkBuffers?: ChunkBuffers
}

/**
 * The store `init` gives, or a new one of the node's own.
 * @param makeRoom frees room in the node's own store when it is full
 */
export function nodeStorage(
  init: DandelionNodeInit,
  makeRoom: NonNullable<ChunkStoreInit['makeRoom']>,
): NodeStorage {
  const device = init.role === 'device'
  const ownsStore = init.store === undefined
  const pool =
    ownsStore && (init.hashWorkers ?? 0) > 0
      ? new HashPool({ size: init.hashWorkers, idleMs: HASH_POOL_IDLE_MS })
      : undefined
  const storeInit = {
    quotaBytes: init.quotaBytes ?? (device ? DEVICE_QUOTA_BYTES : undefined),
    hasher: pool,
    // "cache with a quota and LRU eviction of unpinned manifests": whole manifests, never
    // chunk by chunk (that would leave swarms announcing and readers expecting chunks gone).
    // A campus node too: a version no release has it run any more is unpinned, and stays
    // only until the room is needed (it used to stay for ever, until the disk filled).
    makeRoom,
  }
  const store =
    init.store ??
    (init.dataDir === undefined
      ? new MemoryChunkStore(storeInit)
      : new FsChunkStore({
          dir: join(init.dataDir, 'store'),
          directIo: init.directIo ?? true,
          minFreeDiskBytes: init.minFreeDiskBytes,
          freeDiskBytes: init.freeDiskBytes,
          ...storeInit,
        }))
  const chunkBuffers =
    store instanceof FsChunkStore
      ? new ChunkBuffers({ alloc: async (size) => await store.chunkBuffer(size) })
      : undefined
  return { store, ownsStore, pool, chunkBuffers }
}
