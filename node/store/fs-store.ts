/**
 * The on-disk chunk store: chunk bytes appended to segment files (`segments/<id>.seg`,
 * see `segments.ts`), and a `level` index of where each chunk is and of the pins
 * (`index-keys.ts`). Measured against keeping the bytes inside level and against one file
 * per chunk (see `bench/store.ts` and the README): segments write each byte once with the
 * fewest file-system operations, where LevelDB rewrites 1 MiB values again at every
 * compaction and a file per chunk pays for a new inode every MiB.
 *
 * Crash safety: a put records its intent, writes the bytes, then replaces the intent with
 * the chunk's entry in one batch; what a crash leaves is repaired at start
 * (`recovery.ts`). Index writes from concurrent puts are grouped into one batch each time
 * (`group-commit.ts`). A start that fails closes what it opened (`store-files.ts`: the
 * index's LOCK above all), so a retry in the same process meets the real cause again.
 * Chunks a bulk writer writes into a segment itself are `in-place-write.ts`'s.
 *
 * Bytes nothing points to are dead space, reclaimed as new segments are started
 * (`compaction.ts`): disk use stays within about twice the live bytes.
 */
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import type { DiskFloorInfo } from '../errors.ts'
import { BaseChunkStore } from './base-store.ts'
import { ChunkLocations } from './chunk-locations.ts'
import { Compaction } from './compaction.ts'
import { DiskFloor, statfsFreeBytes } from './disk-floor.ts'
import { asDiskFull } from './disk-full.ts'
import { type ChunkFill, checkLengths, writeInPlace } from './in-place-write.ts'
import type { AbortOptions, FsChunkStoreInit, StoreDisk } from './index.ts'
import { CHUNK_PREFIX, encodeLocation, INTENT_PREFIX, PIN_PREFIX } from './index-keys.ts'
import { recoverIndex } from './recovery.ts'
import type { RoomLimit } from './room.ts'
import type { Location } from './segments.ts'
import { StoreFiles } from './store-files.ts'

const log = logger('dandelion:store')
const MiB = 1024 * 1024

/** Chunk bytes in segment files, index and pins in `level`. */
export class FsChunkStore extends BaseChunkStore {
  private readonly dir: string
  private readonly fsync: boolean
  /** The index, segments and direct-I/O probe, while open. */
  private readonly files: StoreFiles
  /** Where each chunk is, and the chunks of each segment (for compaction). */
  private readonly locations = new ChunkLocations()
  /** Deletes and compaction moves run one at a time. */
  private exclusive: Promise<void> = Promise.resolve()
  /** The open segments' compaction (a new one each start). */
  private compaction?: Compaction

  /** Free space kept on the disk (`minFreeDiskBytes`), if any. */
  private readonly floor?: DiskFloor
  /** The disk this store is on (`ChunkStore.disk`). */
  readonly disk: StoreDisk

  constructor(init: FsChunkStoreInit) {
    super(init)
    this.dir = init.dir
    const freeDiskBytes = init.freeDiskBytes ?? (() => statfsFreeBytes(init.dir))
    if (init.minFreeDiskBytes !== undefined && init.minFreeDiskBytes > 0)
      this.floor = new DiskFloor({
        dir: init.dir,
        minFreeBytes: init.minFreeDiskBytes,
        freeBytes: freeDiskBytes,
      })
    const floor = this.floor
    this.disk = {
      minFreeBytes: floor?.minFreeBytes ?? 0,
      // with a floor, its reading (fresh while the store writes); without, one statfs
      freeBytes: () => {
        if (floor !== undefined) return floor.free()
        try {
          return freeDiskBytes()
        } catch {
          return Number.NaN
        }
      },
    }
    this.fsync = init.fsync ?? false
    const quota = init.quotaBytes ?? Number.POSITIVE_INFINITY
    this.files = new StoreFiles(init.dir, {
      segmentBytes: init.segmentBytes ?? Math.max(MiB, Math.min(64 * MiB, Math.floor(quota / 8))),
      directIo: init.directIo ?? false,
    })
    this.verifyReads = init.verifyReads ?? true
  }

  async start(): Promise<void> {
    if (this.started) return
    this.resetState()
    try {
      await this.open()
    } catch (err) {
      // what it opened is closed: a LOCK still held by this process would fail the retry
      // (the daemon's, after the cause is fixed) with a lock error in place of the cause
      await this.exclusive
      await this.closeFiles().catch((closeErr: Error) =>
        log.error('closing the store after a failed start failed: %s', closeErr.message),
      )
      this.resetState()
      throw err
    }
    this.started = true
    // what a crash or a run of deletes before the stop left: clean it up now
    this.compaction!.all()
  }

  /** {@link start}'s work: the index and segments opened, and what they hold loaded and repaired. */
  private async open(): Promise<void> {
    await this.files.open()
    const { segments } = this.files
    const db = this.files.db!
    this.compaction = new Compaction({
      db,
      segments,
      locations: this.locations.byKey,
      bySegment: this.locations.bySegment,
      running: () => this.started,
      exclusively: (fn) => this.exclusively(fn),
      remove: (key) => this.remove(key),
      moved: (key, from, to) => {
        this.locations.unlist(key, from)
        this.place(key, to, false)
      },
    })
    await recoverIndex({
      dir: this.dir,
      db,
      segments,
      place: (key, l) => this.place(key, l),
      has: (key) => this.locations.has(key),
      write: (key, bytes) => this.writeRaw(key, bytes),
      pin: (key, cids) => this.pinned.apply(key, cids),
    })
  }

  /**
   * Closes the store once the writes under way are done (later ones are refused with
   * `StoreStoppedError`); a compaction in progress stops after the chunk it is moving.
   */
  async stop(): Promise<void> {
    this.started = false
    await this.settleInFlight()
    await this.exclusive
    await this.closeFiles()
  }

  /** Forgets where the chunks are and closes the files (each even if one before fails). */
  private async closeFiles(): Promise<void> {
    this.locations.clear()
    await this.files.close()
  }

  /** Compacts every segment less than half live now; resolves when done. */
  async compact(): Promise<void> {
    this.assertStarted()
    this.compaction!.all()
    await this.exclusive
  }

  /**
   * A shared-memory buffer for a chunk of `size` bytes that this store writes fastest
   * (directly to disk with `directIo`); `undefined` when any buffer will do. The caller
   * may reuse it once the put that wrote it has resolved.
   */
  async chunkBuffer(size: number): Promise<Uint8Array | undefined> {
    return await this.files.direct?.alloc(size)
  }

  /** Whether chunks from {@link chunkBuffer} are written with direct I/O. */
  get writesDirect(): boolean {
    return this.files.direct !== undefined
  }

  /** Chunk bytes this store wrote since it started: with direct I/O, and through the page cache. */
  get bytesWritten(): { direct: number; buffered: number } {
    return { ...this.files.segments.written }
  }

  /**
   * Stores chunks that `fill` writes straight into the active segment, one after the
   * other (see {@link ChunkStore.addInPlace} and `in-place-write.ts`): with `directIo` and
   * a buffer from {@link chunkBuffer}, a hash worker reads, hashes and writes them without
   * the event loop touching the bytes.
   */
  async addInPlace(
    bytes: Uint8Array,
    lengths: number[],
    fill: ChunkFill,
    options: AbortOptions = {},
  ): Promise<CID[]> {
    this.assertStarted()
    checkLengths(bytes, lengths)
    const size = bytes.byteLength
    await this.reserveRoom(size, options)
    try {
      this.assertNotStopping()
      const write = writeInPlace(
        {
          segments: this.files.segments,
          fsync: this.fsync,
          allocate: (length) => this.allocate(length),
          commit: (key, l) =>
            this.commitWritten(key, l.length, async () => {
              await this.files.index!.write([
                { type: 'put', key: CHUNK_PREFIX + key, value: encodeLocation(l) },
              ])
              this.place(key, l, false)
            }),
        },
        bytes,
        lengths,
        fill,
      )
      return await this.tracked(write)
    } catch (err) {
      throw this.writeError(err)
    } finally {
      this.releaseRoom(size)
    }
  }

  /** Where a stored chunk's bytes are (for tests and tools). */
  locate(cid: CID): (Location & { path: string }) | undefined {
    const l = this.locations.get(cid.toString())
    return l === undefined ? undefined : { ...l, path: join(this.dir, 'segments', `${l.segment}.seg`) }
  }

  protected async readRaw(key: string): Promise<Uint8Array | undefined> {
    // a compaction may move the chunk between the lookup and the read: look again
    for (let attempt = 0; attempt < 3; attempt++) {
      const l = this.locations.get(key)
      if (l === undefined) return undefined
      const bytes = await this.files.segments.read(l)
      if (bytes !== undefined) return bytes
    }
    return undefined
  }

  protected async writeRaw(key: string, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const l = this.allocate(bytes.byteLength)
    const value = encodeLocation(l)
    const files = this.files
    try {
      await files.index!.write([{ type: 'put', key: INTENT_PREFIX + key, value }])
      await files.segments.write(l, bytes, this.fsync)
      await files.index!.write([
        { type: 'del', key: INTENT_PREFIX + key },
        { type: 'put', key: CHUNK_PREFIX + key, value },
      ])
    } catch (err) {
      await files.db!.del(INTENT_PREFIX + key).catch(() => {})
      await files.segments.release(l)
      throw err
    }
    this.place(key, l)
  }

  /** The free-space floor kept on this store's disk, if it has one. */
  get diskFloor(): DiskFloorInfo | undefined {
    return this.floor?.info()
  }

  protected override beforeReserve(size: number): void {
    this.floor?.reserving(this.sizes.bytes, size)
  }

  protected override roomLimit(): RoomLimit {
    return this.floor?.roomLimit(this.quotaBytes) ?? { bytes: this.quotaBytes }
  }

  /** A full disk named as this store's: its directory and the fix, not the file it was writing. */
  protected override writeError(err: unknown): unknown {
    return asDiskFull(err, this.dir)
  }

  /** Runs within {@link exclusively}, so no compaction moves the chunk meanwhile. */
  protected async deleteRaw(key: string): Promise<void> {
    const l = this.locations.get(key)
    if (l === undefined) return
    await this.files.db!.del(CHUNK_PREFIX + key)
    await this.unplace(key, l)
  }

  /** Deletes and compaction moves run one at a time. */
  protected override async exclusively<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.exclusive.then(fn)
    this.exclusive = run.then(
      () => {},
      () => {},
    )
    return await run
  }

  /** Synced: pins are rare, and a download or a lesson forgotten after a power cut is not. */
  protected async savePin(key: string, cids: string[] | undefined): Promise<void> {
    const db = this.files.db!
    if (cids === undefined) await db.del(PIN_PREFIX + key, { sync: true })
    else await db.put(PIN_PREFIX + key, JSON.stringify(cids), { sync: true })
  }

  /**
   * Records where a chunk is; `visible` also counts it as stored (not for a compaction
   * move, nor in {@link addInPlace}, whose caller counts it).
   */
  private place(key: string, l: Location, visible = true): void {
    this.locations.place(key, l)
    if (visible) this.remember(key, l.length)
  }

  /** Forgets where a deleted chunk was; its bytes there are dead space. */
  private async unplace(key: string, l: Location): Promise<void> {
    this.locations.delete(key, l)
    await this.files.segments.release(l)
  }

  /**
   * Room for new chunk bytes in the active segment. Each time a new segment is started,
   * the sparsest older one is compacted, so cleaning keeps pace with writing.
   */
  private allocate(length: number): Location {
    const { segments } = this.files
    const before = segments.activeId
    const l = segments.allocate(length)
    if (l.segment !== before) this.compaction!.segmentStarted()
    return l
  }
}
