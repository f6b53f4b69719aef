/**
 * What both chunk stores share: hashing before storing, byte accounting against a
 * quota, pins (`pins.ts`) and least-recently-used eviction. Implementations supply raw I/O.
 */
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { blake3, chunkCidFromDigest, equalBytes } from '../content/cid.ts'
import {
  ChunkHashMismatchError,
  ChunkNotFoundError,
  type DiskFloorInfo,
  NotStartedError,
  QuotaExceededError,
  StoreStoppedError,
} from '../errors.ts'
import type { AbortOptions, AddOptions, ChunkStore, ChunkStoreInit, Hasher, StoreUsage } from './index.ts'
import { Pins } from './pins.ts'

const log = logger('dandelion:store')
/** What {@link BaseChunkStore.readChecked} returns for bytes that are not the chunk's. */
const CORRUPT = Symbol('corrupt')

const inlineHasher: Hasher = {
  hash: async (bytes) => ({ bytes, digest: blake3(bytes) }),
}

/** Base class of chunk stores: subclasses implement raw reads and writes. */
export abstract class BaseChunkStore implements ChunkStore {
  protected readonly quotaBytes: number
  protected readonly evictWhenFull: boolean
  private readonly makeRoom?: ChunkStoreInit['makeRoom']
  private makingRoom: Promise<void> = Promise.resolve()
  protected readonly hasher: Hasher
  /** cid string → size, in least-recently-used order (Map keeps insertion order). */
  protected readonly sizes = new Map<string, number>()
  /** Pins in force (a subclass applies those it loads at start). */
  protected readonly pinned = new Pins()
  /** Writes in progress, by chunk (bounded by the callers' windows). */
  private readonly writing = new Map<string, Promise<void>>()
  /** Deletes whose bytes and index entry are still going, by chunk (one at a time: {@link exclusively}). */
  private readonly removing = new Map<string, Promise<void>>()
  /** Writes (and pin records) under way: `stop` waits for them before closing what they write to. */
  private readonly inFlight = new Set<Promise<unknown>>()
  protected bytes = 0
  private reserved = 0
  protected started = false
  /** Hash every chunk read before returning it (see {@link get}); set by stores whose bytes can rot. */
  protected verifyReads = false

  constructor(init: ChunkStoreInit = {}) {
    this.quotaBytes = init.quotaBytes ?? Number.POSITIVE_INFINITY
    this.evictWhenFull = init.evictWhenFull ?? false
    this.makeRoom = init.makeRoom
    this.hasher = init.hasher ?? inlineHasher
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
    const bytes = await this.readChecked(cid, options)
    if (bytes === undefined) {
      this.forget(key)
      throw new ChunkNotFoundError(key)
    }
    if (bytes === CORRUPT) {
      await this.discardCorrupt(cid)
      throw new ChunkNotFoundError(key)
    }
    this.touch(key)
    return bytes
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
    for (const key of [...this.sizes.keys()]) {
      options.signal?.throwIfAborted()
      yield CID.parse(key)
    }
  }

  usage(): StoreUsage {
    const pinnedBytes = this.pinned.pinnedBytes(this.sizes)
    const usage: StoreUsage = {
      chunks: this.sizes.size,
      bytes: this.bytes,
      quotaBytes: this.quotaBytes,
      pinnedBytes,
    }
    const limit = this.roomLimit()
    if (limit.bytes < this.quotaBytes) usage.limitBytes = Math.max(0, limit.bytes)
    return usage
  }

  /**
   * The most bytes the store may hold now, and why when it is not the quota (a subclass
   * with a free-space floor on its disk: `FsChunkStore`).
   */
  protected roomLimit(): { bytes: number; floor?: DiskFloorInfo } {
    return { bytes: this.quotaBytes }
  }

  /** Called before `size` bytes are reserved (a subclass reads its disk's free space). */
  protected beforeReserve(_size: number): void {}

  async pin(key: string, cids: CID[], _options: AbortOptions = {}): Promise<void> {
    this.assertStarted()
    const set = new Set(cids.map((c) => c.toString()))
    // in force at once: a delete or an eviction running while it is saved keeps these chunks
    const old = this.pinned.get(key)
    this.pinned.apply(key, set)
    const record = [...set]
    try {
      await this.tracked(this.pinned.inOrder(() => this.savePin(key, record)))
    } catch (err) {
      if (this.pinned.get(key) === set) this.pinned.apply(key, old)
      throw this.writeError(err)
    }
  }

  async unpin(key: string, _options: AbortOptions = {}): Promise<void> {
    this.assertStarted()
    const old = this.pinned.get(key)
    if (old === undefined) return
    await this.tracked(this.pinned.inOrder(() => this.savePin(key, undefined)))
    if (this.pinned.get(key) === old) this.pinned.apply(key, undefined)
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
    for (const [key, size] of [...this.sizes]) {
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
    this.inFlight.add(work)
    const done = (): void => {
      this.inFlight.delete(work)
    }
    work.then(done, done)
    return work
  }

  /** Waits for every write under way (for `stop`, once `started` is false: none begins after). */
  protected async settleInFlight(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
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
    this.bytes = 0
  }

  /** Records a chunk as present (used at start and after a write). */
  protected remember(key: string, size: number): void {
    const old = this.sizes.get(key)
    if (old !== undefined) this.bytes -= old
    this.sizes.delete(key)
    this.sizes.set(key, size)
    this.bytes += size
  }

  protected assertStarted(): void {
    if (!this.started) throw new NotStartedError('chunk store')
  }

  private async store(key: string, bytes: Uint8Array, options: AbortOptions): Promise<void> {
    if (this.sizes.has(key)) {
      this.touch(key)
      return
    }
    // one write per chunk at a time: a second put of the same chunk waits for the first
    const running = this.writing.get(key)
    if (running !== undefined) {
      try {
        return await running
      } catch {
        // that write failed for its own caller (aborted, refused room): this put is still
        // wanted, by another download sharing the chunk, and makes its own attempt
        options.signal?.throwIfAborted()
        return await this.store(key, bytes, options)
      }
    }
    // a delete of the chunk still under way would remove the entry this write makes (its
    // index delete landing after it, and the location forgotten): store it once it is gone
    const removal = this.removing.get(key)
    if (removal !== undefined) {
      await removal.catch(() => {})
      return await this.store(key, bytes, options)
    }
    const write = this.write(key, bytes, options)
    this.writing.set(key, write)
    try {
      await write
    } finally {
      this.writing.delete(key)
    }
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
   * Reads a chunk and, with {@link verifyReads}, hashes it: "every chunk is verified
   * before it is stored or served", and a disk can change bytes after they were stored.
   * Returns `undefined` when the store no longer has the chunk, {@link CORRUPT} when its
   * bytes are not the chunk's.
   */
  private async readChecked(
    cid: CID,
    options: AbortOptions,
  ): Promise<Uint8Array | typeof CORRUPT | undefined> {
    let bytes: Uint8Array | undefined
    try {
      bytes = await this.readRaw(cid.toString(), options)
    } catch (err) {
      // the file ends before the chunk does: its bytes are gone
      if ((err as Error).name === 'ChunkStoreCorruptError') return CORRUPT
      throw err
    }
    if (bytes === undefined || !this.verifyReads) return bytes
    const { digest } = await this.hasher.hash(bytes)
    return equalBytes(digest, cid.multihash.digest) ? bytes : CORRUPT
  }

  /**
   * Drops a chunk found corrupt, pinned or not (its pins stay: fetched again, it is
   * pinned again). Read again first, once no compaction or delete runs: a copy stored
   * meanwhile (fetched again after another reader dropped this one) is kept.
   */
  private async discardCorrupt(cid: CID): Promise<void> {
    const key = cid.toString()
    await this.exclusively(async () => {
      if (!this.started || !this.sizes.has(key) || (await this.readChecked(cid, {})) !== CORRUPT) return
      log.error('chunk %s is corrupt in the store: dropped, to be fetched again', key)
      await this.remove(key)
    })
  }

  /**
   * Forgets a chunk, then deletes its bytes; call within {@link exclusively} (a subclass's
   * compaction does, for a chunk whose bytes it finds gone).
   */
  protected async remove(key: string): Promise<void> {
    const size = this.sizes.get(key)
    // forgotten first: nothing finds it (nor counts on it) while its bytes go; a put of it
    // meanwhile waits (see store())
    this.forget(key)
    const removal = this.tracked(this.deleteRaw(key))
    this.removing.set(key, removal)
    try {
      await removal
    } catch (err) {
      if (size !== undefined && !this.sizes.has(key)) this.remember(key, size)
      throw err
    } finally {
      this.removing.delete(key)
    }
  }

  /**
   * Makes room for `size` more bytes (evicting when allowed) and holds it until
   * {@link releaseRoom}: bytes being written count against the quota too, so concurrent
   * writes cannot overshoot it. `chunk`: the key of the one chunk the room is for, if so.
   * @throws QuotaExceededError when there is no room
   */
  protected async reserveRoom(size: number, options: AbortOptions = {}, chunk?: string): Promise<void> {
    this.beforeReserve(size)
    const needed = (): number => this.bytes + this.reserved + size - this.roomLimit().bytes
    if (needed() > 0 && this.makeRoom !== undefined) {
      const makeRoom = this.makeRoom
      const run = this.makingRoom.then(async () => {
        if (needed() > 0) await makeRoom(needed, options, chunk)
      })
      this.makingRoom = run.catch(() => {})
      await run
    }
    if (needed() > 0) {
      if (this.evictWhenFull) await this.evict(needed(), options)
      if (needed() > 0) {
        const { floor } = this.roomLimit()
        const held = `(${this.bytes} stored, ${this.reserved} being written)`
        throw floor === undefined
          ? new QuotaExceededError(
              `storing ${size} bytes would exceed the quota of ${this.quotaBytes} bytes ${held}`,
            )
          : new QuotaExceededError(
              `storing ${size} bytes would leave less than the ${floor.minFreeBytes} bytes kept free on the disk of ${floor.dir} ${held}`,
              { diskFloor: floor },
            )
      }
    }
    options.signal?.throwIfAborted()
    this.reserved += size
  }

  protected releaseRoom(size: number): void {
    this.reserved -= size
  }

  /**
   * Makes visible a chunk whose bytes a subclass has already written where it keeps them
   * (see `FsChunkStore.addInPlace`): `commit` records it, unless the chunk is stored or
   * being stored already. Returns whether it committed; when not, the caller frees its copy.
   */
  protected async commitWritten(key: string, size: number, commit: () => Promise<void>): Promise<boolean> {
    if (this.sizes.has(key)) {
      this.touch(key)
      return false
    }
    const running = this.writing.get(key)
    if (running !== undefined) {
      try {
        await running
        return false
      } catch {
        return await this.commitWritten(key, size, commit) // that write failed: this copy stands in
      }
    }
    // as in store(): an entry recorded while the chunk's delete is under way would be lost
    const removal = this.removing.get(key)
    if (removal !== undefined) {
      await removal.catch(() => {})
      return await this.commitWritten(key, size, commit)
    }
    const write = commit().then(() => this.remember(key, size))
    this.writing.set(key, write)
    try {
      await write
    } finally {
      this.writing.delete(key)
    }
    return true
  }

  private touch(key: string): void {
    const size = this.sizes.get(key)
    if (size === undefined) return
    this.sizes.delete(key)
    this.sizes.set(key, size)
  }

  private forget(key: string): void {
    const size = this.sizes.get(key)
    if (size === undefined) return
    this.sizes.delete(key)
    this.bytes -= size
  }
}
