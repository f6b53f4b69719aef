/**
 * What both chunk stores share: hashing before storing, byte accounting against a
 * quota (`room.ts`), one write per chunk at a time (`chunk-writes.ts`), pins (`pins.ts`)
 * and least-recently-used eviction. Implementations supply raw I/O.
 */
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { blake3, chunkCidFromDigest, equalBytes } from '../content/cid.ts'
import { ChunkHashMismatchError, ChunkNotFoundError, NotStartedError, StoreStoppedError } from '../errors.ts'
import { CORRUPT } from './checked-read.ts'
import { ChunkSizes } from './chunk-sizes.ts'
import { ChunkWrites } from './chunk-writes.ts'
import { CheckedReads } from './corrupt-chunks.ts'
import type {
  AbortOptions,
  AddOptions,
  ChunkCheck,
  ChunkStore,
  ChunkStoreInit,
  Hasher,
  StoreUsage,
} from './index.ts'
import { Pins } from './pins.ts'
import { Room, type RoomLimit } from './room.ts'

const _log = logger('dandelion:store')

const inlineHasher: Hasher = {
  hash: async (bytes) => ({ bytes, digest: blake3(bytes) }),
}

/** Base class of chunk stores: subclasses implement raw reads and writes. */
export abstract class BaseChunkStore implements ChunkStore {
  protected readonly quotaBytes: number
  protected readonly hasher: Hasher
  /** The chunks held: cid string → size, in least-recently-used order. */
  protected readonly sizes = new ChunkSizes()
  /** Pins in force (a subclass applies those it loads at start). */
  protected readonly pinned = new Pins({
    save: (key, cids) => this.savePin(key, cids),
    track: (write) => this.tracked(write),
  })
  /** Bytes being written, held against the store's limit. */
  private readonly room: Room
  /** Writes and deletes under way: one write per chunk, none during its delete. */
  private readonly writes: ChunkWrites
  /** Reads checked against their CIDs, and corrupt chunks dropped (`corrupt-chunks.ts`). */
  private readonly checked: CheckedReads
  protected started = false
  /** Hash every chunk read before returning it (see {@link get}); set by stores whose bytes can rot. */
  protected verifyReads = false

  constructor(init: ChunkStoreInit = {}) {
    this.quotaBytes = init.quotaBytes ?? Number.POSITIVE_INFINITY
    this.hasher = init.hasher ?? inlineHasher
    this.room = new Room(
      {
        stored: () => this.sizes.bytes,
        limit: () => this.roomLimit(),
        evict: async (bytes, options) => await this.evict(bytes, options),
      },
      { quotaBytes: this.quotaBytes, evictWhenFull: init.evictWhenFull, makeRoom: init.makeRoom },
    )
    this.writes = new ChunkWrites({
      stored: (key) => this.sizes.has(key),
      touch: (key) => this.sizes.touch(key),
    })
    this.checked = new CheckedReads({
      sizes: this.sizes,
      hasher: this.hasher,
      readRaw: (key, options) => this.readRaw(key, options),
      exclusively: (fn) => this.exclusively(fn),
      remove: (key) => this.remove(key),
      started: () => this.started,
      verifyReads: () => this.verifyReads,
    })
  }

  abstract start(): Promise<void>
  abstract stop(): Promise<void>
  protected abstract readRaw(key: string, options?: AbortOptions): Promise<Uint8Array | undefined>
  protected abstract writeRaw(key: string, bytes: Uint8Array, options?: AbortOptions): Promise<void>
  protected abstract deleteRaw(key: string): Promise<void>
  protected abstract savePin(key: string, cids: string[] | undefined): Promise<void>

  async put(cid: CID, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    this.assertStarted()
    const { bytes: checked, digest } = await this.hasher.hash(bytes)
    // Verify, then trust: nothing is stored under a CID it does not hash to.
    if (!equalBytes(digest, cid.multihash.digest)) {
      throw new ChunkHashMismatchError(`bytes do not match chunk ${cid.toString()}`)
    }
    await this.store(cid.toString(), checked, options)
  }

  async add(bytes: Uint8Array, options: AddOptions = {}): Promise<CID> {
    this.assertStarted()
    const digest = options.digest ?? (await this.hasher.hash(bytes)).digest
    const cid = chunkCidFromDigest(digest)
    await this.store(cid.toString(), bytes, options)
    return cid
  }

  /**
   * With {@link verifyReads}, a chunk whose stored bytes no longer hash to its CID (bit
   * rot, a segment cut short under a running store) is dropped, pins or not, and reported
   * as not found: its owner fetches it again, as it does a chunk evicted meanwhile.
   */
  async get(cid: CID, options: AbortOptions = {}): Promise<Uint8Array> {
    this.assertStarted()
    const key = cid.toString()
    if (!this.sizes.has(key)) throw new ChunkNotFoundError(key)
    const bytes = await this.checked.read(cid, options)
    if (bytes === undefined) {
      this.sizes.forget(key)
      throw new ChunkNotFoundError(key)
    }
    if (bytes === CORRUPT) {
      await this.checked.discard(cid)
      throw new ChunkNotFoundError(key)
    }
    this.sizes.touch(key)
    return bytes
  }

  /**
   * Reads chunk `cid` back and hashes it, whatever {@link verifyReads} says, without making
   * it recently used: a scrub's read is no use. A corrupt chunk is dropped as {@link get}
   * drops one (`scrub.ts` then has the swarms holding it fetch it again).
   */
  async verify(cid: CID, options: AbortOptions = {}): Promise<ChunkCheck> {
    this.assertStarted()
    return await this.checked.verify(cid, options)
  }

  countRefusal(): void {
    this.room.refused++
  }

  async has(cid: CID): Promise<boolean> {
    return this.sizes.has(cid.toString())
  }

  async delete(cid: CID, options: AbortOptions & { force?: boolean } = {}): Promise<boolean> {
    this.assertStarted()
    const key = cid.toString()
    // checked once it is this delete's turn: a pin made while it waited (behind a
    // compaction) protects the chunk
    return await this.exclusively(async () => {
      if (!this.sizes.has(key)) return false
      if (options.force !== true && this.pinned.holds(key)) return false
      await this.remove(key)
      return true
    })
  }

  async *list(options: AbortOptions = {}): AsyncIterable<CID> {
    for (const key of this.sizes.keys()) {
      options.signal?.throwIfAborted()
      yield CID.parse(key)
    }
  }

  usage(): StoreUsage {
    const pinnedBytes = this.pinned.pinnedBytes(this.sizes)
    const usage: StoreUsage = {
      chunks: this.sizes.count,
      bytes: this.sizes.bytes,
      quotaBytes: this.quotaBytes,
      pinnedBytes,
      refusedWrites: this.room.refused,
    }
    const limit = this.roomLimit()
    if (limit.bytes < this.quotaBytes) usage.limitBytes = Math.max(0, limit.bytes)
    return usage
  }

  /**
   * The most bytes the store may hold now, and why when it is not the quota (a subclass
   * with a free-space floor on its disk: `FsChunkStore`).
   */
  protected roomLimit(): RoomLimit {
    return { bytes: this.quotaBytes }
  }

  /** Called before `size` bytes are reserved (a subclass reads its disk's free space). */
  protected beforeReserve(_size: number): void {}

  async pin(key: string, cids: CID[], _options: AbortOptions = {}): Promise<void> {
    this.assertStarted()
    try {
      // in force at once, before its record is written (see `Pins.pin`)
      await this.pinned.pin(key, new Set(cids.map((c) => c.toString())))
    } catch (err) {
      throw this.writeError(err)
    }
  }

  async unpin(key: string, _options: AbortOptions = {}): Promise<void> {
    this.assertStarted()
    await this.pinned.unpin(key)
  }

  pins(): string[] {
    return this.pinned.keys()
  }

  isPinned(cid: CID): boolean {
    return this.pinned.holds(cid.toString())
  }

  async evict(bytes: number, options: AbortOptions = {}): Promise<number> {
    this.assertStarted()
    let freed = 0
    for (const [key, size] of this.sizes.entries()) {
      if (freed >= bytes) break
      options.signal?.throwIfAborted()
      const removed = await this.exclusively(async () => {
        if (this.sizes.get(key) !== size || this.pinned.holds(key)) return false
        await this.remove(key)
        return true
      })
      if (removed) freed += size
    }
    return freed
  }

  /**
   * Runs `fn` when no other delete (nor, in a subclass, anything that moves chunks)
   * runs: what it checks stays true until it is done. The base class runs it at once.
   */
  protected async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    return await fn()
  }

  /**
   * Counts `work` as under way until it settles: {@link settleInFlight} waits for it.
   * Subclasses wrap their own writes (`FsChunkStore.addInPlace`) in it.
   */
  protected tracked<T>(work: Promise<T>): Promise<T> {
    return this.writes.tracked(work)
  }

  /** Waits for every write under way (for `stop`, once `started` is false: none begins after). */
  protected async settleInFlight(): Promise<void> {
    await this.writes.settle()
  }

  /**
   * Throws once `stop` began: a write that passed {@link assertStarted} before (and waited
   * for room or a hash) must not start writing to files being closed.
   */
  protected assertNotStopping(): void {
    if (!this.started) throw new StoreStoppedError('the chunk store is stopping: nothing more is written')
  }

  /** Forgets what an earlier start loaded, so a store stopped and started again reads its files afresh. */
  protected resetState(): void {
    this.sizes.clear()
    this.pinned.clear()
  }

  /** Records a chunk as present (used at start and after a write). */
  protected remember(key: string, size: number): void {
    this.sizes.remember(key, size)
  }

  protected assertStarted(): void {
    if (!this.started) throw new NotStartedError('chunk store')
  }

  /** Writes a chunk unless it is stored or being stored already (see `chunk-writes.ts`). */
  private async store(key: string, bytes: Uint8Array, options: AbortOptions): Promise<void> {
    await this.writes.once(key, () => this.write(key, bytes, options), options)
  }

  private async write(key: string, bytes: Uint8Array, options: AbortOptions): Promise<void> {
    const size = bytes.byteLength
    this.assertNotStopping()
    await this.reserveRoom(size, options, key)
    try {
      this.assertNotStopping()
      await this.tracked(this.writeRaw(key, bytes, options))
    } catch (err) {
      throw this.writeError(err)
    } finally {
      this.releaseRoom(size)
    }
    this.remember(key, size)
  }

  /**
   * The error a failed write is reported with: the raw one here; an on-disk store names
   * itself in a full disk's (`FsChunkStore`: a `DiskFullError` with its directory).
   */
  protected writeError(err: unknown): unknown {
    return err
  }

  /**
   * Forgets a chunk, then deletes its bytes; call within {@link exclusively} (a subclass's
   * compaction does, for a chunk whose bytes it finds gone).
   */
  protected async remove(key: string): Promise<void> {
    const size = this.sizes.get(key)
    // forgotten first: nothing finds it (nor counts on it) while its bytes go; a put of it
    // meanwhile waits (see `ChunkWrites.once`)
    this.sizes.forget(key)
    await this.writes.removal(key, this.deleteRaw(key), () => {
      if (size !== undefined && !this.sizes.has(key)) this.remember(key, size)
    })
  }

  /**
   * Makes room for `size` more bytes (evicting when allowed) and holds it until
   * {@link releaseRoom}: bytes being written count against the quota too, so concurrent
   * writes cannot overshoot it. `chunk`: the key of the one chunk the room is for, if so.
   * @throws QuotaExceededError when there is no room
   */
  protected async reserveRoom(size: number, options: AbortOptions = {}, chunk?: string): Promise<void> {
    this.beforeReserve(size)
    await this.room.reserve(size, options, chunk)
  }

  /** Gives back room {@link reserveRoom} held. */
  protected releaseRoom(size: number): void {
    this.room.release(size)
  }

  /**
   * Makes visible a chunk whose bytes a subclass has already written where it keeps them
   * (see `FsChunkStore.addInPlace`): `commit` records it, unless the chunk is stored or
   * being stored already. Returns whether it committed; when not, the caller frees its copy.
   */
  protected async commitWritten(key: string, size: number, commit: () => Promise<void>): Promise<boolean> {
    return await this.writes.once(key, () => commit().then(() => this.remember(key, size)))
  }
}
