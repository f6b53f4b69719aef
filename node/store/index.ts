/**
 * Chunk stores: where verified chunks live. Two implementations share one contract:
 * {@link MemoryChunkStore} (tests, embedded mode) and {@link FsChunkStore} (chunk bytes
 * in segment files, with a `level` index of where each chunk is and of the pins). This
 * file holds the public types and options; the implementations sit beside it.
 */
import type { CID } from 'multiformats/cid'
import type { WriteTarget } from '../content/hash-pool.ts'

export { type DiskFullCode, DiskFullError, diskFullCode } from './disk-full.ts'
export { FsChunkStore } from './fs-store.ts'
export { MemoryChunkStore } from './memory-store.ts'
export { readRange } from './read-range.ts'

/** Options every store call accepts. */
export interface AbortOptions {
  signal?: AbortSignal
}

/** Options of {@link ChunkStore.add}. */
export interface AddOptions extends AbortOptions {
  /**
   * The BLAKE3 digest of exactly `bytes`, when the caller has just computed it (the
   * origin hashes a file's chunks on the hash pool as it reads them). The store trusts
   * it instead of hashing again, so it is for content this process authors: bytes from
   * anywhere else go through {@link ChunkStore.put}, which always verifies.
   */
  digest?: Uint8Array
}

/** Where a caller of {@link ChunkStore.addInPlace} writes its chunks: an open file and an offset (what the hash pool's `readAndHash` takes as `writeTo`). */
export type ChunkTarget = WriteTarget

/** Space used by a store, and the writes it refused for want of space. */
export interface StoreUsage {
  /** Chunks stored. */
  chunks: number
  /** Bytes of chunk data stored. */
  bytes: number
  /** Byte quota; `Infinity` when unlimited. */
  quotaBytes: number
  /** Bytes held by pinned chunks. */
  pinnedBytes: number
  /**
   * The most bytes the store may hold now, when less than the quota: its disk's free-space
   * floor binds (`minFreeDiskBytes`). Absent: the quota is the limit.
   */
  limitBytes?: number
  /**
   * Writes (chunks, manifests) refused for lack of room since the store was created: its
   * limit was reached and nothing more could be evicted (`QuotaExceededError`).
   */
  refusedWrites: number
}

/** The disk an on-disk store is on. */
export interface StoreDisk {
  /** Bytes the store keeps free there (`minFreeDiskBytes`); 0: no floor. */
  readonly minFreeBytes: number
  /**
   * Free bytes on it (what an unprivileged writer may use); `NaN` when it cannot be asked.
   * A store with a floor answers from its last reading when that is a few seconds old at
   * most, else reads it (one `statfs`).
   */
  freeBytes(): number
}

/** What {@link ChunkStore.verify} found: the chunk intact, corrupt (and dropped) or not held; its size. */
export interface ChunkCheck {
  state: 'ok' | 'corrupt' | 'missing'
  bytes: number
}

/** Where verified chunks are kept. Every chunk is hashed before it becomes visible. */
export interface ChunkStore {
  /** Opens the store (and repairs what a crash left behind). */
  start(): Promise<void>
  /** Closes the store. */
  stop(): Promise<void>
  /**
   * Stores `bytes` under `cid` after checking they hash to it. A store never keeps a
   * reference to bytes in a `SharedArrayBuffer` (their owner reuses the buffer): it
   * writes or copies them before the promise resolves.
   * @throws ChunkHashMismatchError when they do not; nothing is stored
   * @throws QuotaExceededError when there is no room
   */
  put(cid: CID, bytes: Uint8Array, options?: AbortOptions): Promise<void>
  /** Hashes `bytes` (unless given their digest), stores them and returns their CID. */
  add(bytes: Uint8Array, options?: AddOptions): Promise<CID>
  /** @throws ChunkNotFoundError */
  get(cid: CID, options?: AbortOptions): Promise<Uint8Array>
  has(cid: CID): Promise<boolean>
  /**
   * Reads chunk `cid` back and checks it against its CID, without making it recently used;
   * a corrupt one is dropped (see `BaseStore.verify`). Optional: stores that can rot have it.
   */
  verify?(cid: CID, options?: AbortOptions): Promise<ChunkCheck>
  /** Removes a chunk; a pinned chunk is kept unless `force` is set. Returns whether it was removed. */
  delete(cid: CID, options?: AbortOptions & { force?: boolean }): Promise<boolean>
  /** Every stored chunk's CID. */
  list(options?: AbortOptions): AsyncIterable<CID>
  usage(): StoreUsage
  /** The disk the store is on; absent for a store in memory. */
  readonly disk?: StoreDisk
  /** Pins `cids` under `key` (e.g. a manifest CID); pinned chunks are never evicted. Replaces an earlier pin of that key. */
  pin(key: string, cids: CID[], options?: AbortOptions): Promise<void>
  /** Removes the pin `key`. */
  unpin(key: string, options?: AbortOptions): Promise<void>
  /** The pin keys. */
  pins(): string[]
  isPinned(cid: CID): boolean
  /**
   * A shared-memory buffer for a chunk of `size` bytes that this store writes fastest,
   * or `undefined` when any buffer will do. Optional: bulk writers (the origin's chunk
   * writer) use it when offered, and may reuse it once the put that wrote it resolved.
   */
  chunkBuffer?(size: number): Promise<Uint8Array | undefined>
  /**
   * Optional, for bulk writers that read, hash and write chunks on another thread (the
   * origin's file ingest, on the hash pool): stores consecutive chunks of the given
   * `lengths`, which `fill` writes itself. `fill` fills `bytes` (as long as the lengths
   * together), writes them to the target with one positional write, and returns them
   * with each chunk's BLAKE3 digest, which the store trusts as it trusts
   * {@link AddOptions.digest}. The chunks become visible only after `fill` resolved and
   * the store recorded them; if `fill` fails, nothing is stored. Returns their CIDs.
   * @throws QuotaExceededError when there is no room
   */
  addInPlace?(
    bytes: Uint8Array,
    lengths: number[],
    fill: (target: ChunkTarget) => Promise<{ bytes: Uint8Array; digests: Uint8Array[] }>,
    options?: AbortOptions,
  ): Promise<CID[]>
  /**
   * Counts, in `usage().refusedWrites`, content its owner refused before writing any of it
   * (larger than the whole quota): a refusal for lack of room, as a refused write is. Optional.
   */
  countRefusal?(): void
  /** Evicts unpinned chunks, least recently used first, until `bytes` are freed or none is left. Returns bytes freed. */
  evict(bytes: number, options?: AbortOptions): Promise<number>
}

/** Computes BLAKE3 digests, possibly off-thread (a `HashPool` fits). */
export interface Hasher {
  /** Returns the digest and the bytes, unchanged and not moved. */
  hash(bytes: Uint8Array): Promise<{ bytes: Uint8Array; digest: Uint8Array }>
}

/** Options shared by the chunk stores. */
export interface ChunkStoreInit {
  /**
   * Byte quota for chunk data.
   * @default Infinity
   */
  quotaBytes?: number
  /**
   * When full, evict unpinned chunks (least recently used first) to make room instead of
   * refusing the put. Devices set this.
   * @default false
   */
  evictWhenFull?: boolean
  /**
   * Called when a put would exceed the quota, before the store evicts chunks itself
   * (`evictWhenFull`) or refuses the put: the owner frees room its own way (a node deletes
   * whole manifests, least recently used first) until `shortBy()` is ≤ 0 or it can free
   * no more. Calls do not overlap. `chunk` is the key of the chunk room is made for, when
   * one chunk is being stored (not for a bulk `addInPlace`): the owner does not evict the
   * content that chunk belongs to in order to store it, and knows, when it cannot free
   * enough, which content the store is about to refuse.
   */
  makeRoom?: (shortBy: () => number, options: AbortOptions, chunk?: string) => Promise<void>
  /**
   * Hasher used to verify chunks. A `HashPool` moves hashing off the event loop.
   * @default hashing on the calling thread
   */
  hasher?: Hasher
}

/** Options of {@link FsChunkStore}. */
export interface FsChunkStoreInit extends ChunkStoreInit {
  /** Directory that holds `segments/` and `index/`. */
  dir: string
  /**
   * fdatasync every chunk before it becomes visible, so a power cut cannot leave a
   * visible chunk whose bytes never reached the disk. A killed process never can.
   * @default false
   */
  fsync?: boolean
  /**
   * Write chunks from buffers made by {@link FsChunkStore.chunkBuffer} with direct I/O
   * (`O_DIRECT`): no copy into the page cache, so far less CPU per byte written. Meant
   * for bulk writers such as the origin's ingest; ignored where the file system lacks it.
   * @default false
   */
  directIo?: boolean
  /**
   * Hash every chunk read against its CID before handing it out; a chunk whose bytes
   * changed on disk is dropped and reported as not found, so it is fetched again rather
   * than served to a peer or a player.
   * @default true
   */
  verifyReads?: boolean
  /**
   * Bytes to keep free on the store's disk: past it the store refuses chunks (or its owner's
   * `makeRoom` evicts content) as it does at its quota. The disk's free space is read again
   * every 8 MiB written. @default no floor
   */
  minFreeDiskBytes?: number
  /** Free bytes on the store's disk (a test simulates a full disk). @default statfs of `dir` */
  freeDiskBytes?: () => number
  /**
   * Size at which a segment file is closed and the next one started.
   * @default 64 MiB, or an eighth of the quota when that is smaller (at least 1 MiB)
   */
  segmentBytes?: number
}
