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
 * (`group-commit.ts`). A start that fails closes what it opened (the index's LOCK above
 * all), so a retry in the same process meets the real cause again.
 *
 * Bytes nothing points to are dead space, reclaimed as new segments are started
 * (`compaction.ts`): disk use stays within about twice the live bytes.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { Level } from 'level'
import type { CID } from 'multiformats/cid'
import { chunkCidFromDigest } from '../content/cid.ts'
import { ChunkStoreCorruptError, type DiskFloorInfo } from '../errors.ts'
import { BaseChunkStore } from './base-store.ts'
import { Compaction } from './compaction.ts'
import { DirectIo } from './direct-io.ts'
import { DiskFloor } from './disk-floor.ts'
import { asDiskFull } from './disk-full.ts'
import { GroupCommit } from './group-commit.ts'
import type { AbortOptions, ChunkTarget, FsChunkStoreInit } from './index.ts'
import { CHUNK_PREFIX, encodeLocation, INTENT_PREFIX, PIN_PREFIX } from './index-keys.ts'
import { recoverIndex } from './recovery.ts'
import { type Location, Segments } from './segments.ts'

const log = logger('dandelion:store')
const MiB = 1024 * 1024

/** Chunk bytes in segment files, index and pins in `level`. */
export class FsChunkStore extends BaseChunkStore {
  private readonly dir: string
  private readonly fsync: boolean
  private readonly segmentBytes: number
  private readonly directIo: boolean
  private direct?: DirectIo
  private segments: Segments
  private readonly locations = new Map<string, Location>()
  /** Chunk keys by segment, for compaction. */
  private readonly bySegment = new Map<number, Set<string>>()
  /** Deletes and compaction moves run one at a time. */
  private exclusive: Promise<void> = Promise.resolve()
  /** The open segments' compaction (a new one each start). */
  private compaction?: Compaction
  private db?: Level<string, string>
  /** Chunk writes' index updates, grouped (see `group-commit.ts`). */
  private index?: GroupCommit

  /** Free space kept on the disk (`minFreeDiskBytes`), if any. */
  private readonly floor?: DiskFloor

  constructor(init: FsChunkStoreInit) {
    super(init)
    this.dir = init.dir
    if (init.minFreeDiskBytes !== undefined && init.minFreeDiskBytes > 0)
      this.floor = new DiskFloor({
        dir: init.dir,
        minFreeBytes: init.minFreeDiskBytes,
        freeBytes: init.freeDiskBytes,
      })
    this.fsync = init.fsync ?? false
    const quota = init.quotaBytes ?? Number.POSITIVE_INFINITY
    this.segmentBytes = init.segmentBytes ?? Math.max(MiB, Math.min(64 * MiB, Math.floor(quota / 8)))
    this.directIo = init.directIo ?? false
    this.verifyReads = init.verifyReads ?? true
    this.segments = new Segments(join(this.dir, 'segments'), this.segmentBytes)
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
    await mkdir(join(this.dir, 'segments'), { recursive: true })
    // small entries only (locations, pins): a small cache and write buffer keep RSS down
    const db = new Level<string, string>(join(this.dir, 'index'), {
      cacheSize: 2 * MiB,
      writeBufferSize: MiB,
    })
    await db.open()
    this.db = db
    this.index = new GroupCommit(db)
    const segmentsDir = join(this.dir, 'segments')
    this.direct = this.directIo ? await DirectIo.open(segmentsDir) : undefined
    this.segments = new Segments(segmentsDir, this.segmentBytes, this.direct)
    await this.segments.load()
    this.compaction = new Compaction({
      db,
      segments: this.segments,
      locations: this.locations,
      bySegment: this.bySegment,
      running: () => this.started,
      exclusively: (fn) => this.exclusively(fn),
      remove: (key) => this.remove(key),
      moved: (key, from, to) => {
        this.unlist(key, from)
        this.place(key, to, false)
      },
    })
    await recoverIndex({
      dir: this.dir,
      db,
      segments: this.segments,
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

  /** Closes the segments, the direct-I/O probe and the index, each even if one before fails. */
  private async closeFiles(): Promise<void> {
    const { db, direct } = this
    this.db = undefined
    this.index = undefined
    this.direct = undefined
    this.locations.clear()
    this.bySegment.clear()
    try {
      await this.segments.close()
    } finally {
      try {
        await direct?.close()
      } finally {
        await db?.close()
      }
    }
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
    return await this.direct?.alloc(size)
  }

  /** Whether chunks from {@link chunkBuffer} are written with direct I/O. */
  get writesDirect(): boolean {
    return this.direct !== undefined
  }

  /** Chunk bytes this store wrote since it started: with direct I/O, and through the page cache. */
  get bytesWritten(): { direct: number; buffered: number } {
    return { ...this.segments.written }
  }

  /**
   * Stores chunks that `fill` writes straight into the active segment, one after the
   * other (see {@link ChunkStore.addInPlace}): with `directIo` and a buffer from
   * {@link chunkBuffer}, a hash worker reads, hashes and writes them without the event
   * loop touching the bytes. No intent record: a crash before the index entries leaves
   * dead space that compaction reclaims, never a visible chunk. A chunk stored already
   * keeps its old copy; the new one is dead space too.
   */
  async addInPlace(
    bytes: Uint8Array,
    lengths: number[],
    fill: (target: ChunkTarget) => Promise<{ bytes: Uint8Array; digests: Uint8Array[] }>,
    options: AbortOptions = {},
  ): Promise<CID[]> {
    this.assertStarted()
    const size = lengths.reduce((a, b) => a + b, 0)
    if (
      lengths.length === 0 ||
      lengths.some((n) => !Number.isSafeInteger(n) || n < 1) ||
      size !== bytes.byteLength
    ) {
      throw new RangeError(
        `chunk lengths ${lengths.join(',')} do not add up to the ${bytes.byteLength}-byte buffer`,
      )
    }
    await this.reserveRoom(size, options)
    try {
      this.assertNotStopping()
      return await this.tracked(this.fillAndCommit(bytes, lengths, fill))
    } catch (err) {
      throw this.writeError(err)
    } finally {
      this.releaseRoom(size)
    }
  }

  /** {@link addInPlace} once room is reserved: the chunks written, then recorded. */
  private async fillAndCommit(
    bytes: Uint8Array,
    lengths: number[],
    fill: (target: ChunkTarget) => Promise<{ bytes: Uint8Array; digests: Uint8Array[] }>,
  ): Promise<CID[]> {
    const run = this.allocate(bytes.byteLength)
    const parts: Location[] = []
    for (let offset = run.offset, i = 0; i < lengths.length; offset += lengths[i++]) {
      parts.push({ segment: run.segment, offset, length: lengths[i] })
    }
    let digests: Uint8Array[]
    try {
      digests = await this.fillRun(run, bytes, fill)
      if (digests.length !== lengths.length) {
        throw new ChunkStoreCorruptError(`got ${digests.length} digests for ${lengths.length} chunks`)
      }
    } catch (err) {
      await this.segments.release(run)
      throw err
    }
    const cids = digests.map((d) => chunkCidFromDigest(d))
    const settled = await Promise.allSettled(
      cids.map(async (cid, i) => {
        const key = cid.toString()
        const l = parts[i]
        const committed = await this.commitWritten(key, l.length, async () => {
          await this.index!.write([{ type: 'put', key: CHUNK_PREFIX + key, value: encodeLocation(l) }])
          this.place(key, l, false)
        })
        if (!committed) await this.segments.release(l) // stored already: this copy is dead space
      }),
    )
    const failed = settled.find((r) => r.status === 'rejected')
    if (failed !== undefined) {
      // the ones recorded stay (they are complete and verified); the rest is dead space
      for (const [i, r] of settled.entries())
        if (r.status === 'rejected') await this.segments.release(parts[i])
      throw failed.reason
    }
    return cids
  }

  /** Lets `fill` write `bytes` at `run`; returns the digests it reports. */
  private async fillRun(
    run: Location,
    bytes: Uint8Array,
    fill: (target: ChunkTarget) => Promise<{ bytes: Uint8Array; digests: Uint8Array[] }>,
  ): Promise<Uint8Array[]> {
    const target = await this.segments.target(run, bytes, this.fsync)
    try {
      const filled = await fill({ fd: target.fd, position: run.offset })
      if (filled.bytes.byteLength !== run.length) {
        throw new ChunkStoreCorruptError(`wrote ${filled.bytes.byteLength} of ${run.length} bytes`)
      }
      await target.done(true)
      return filled.digests
    } finally {
      await target.done(false) // no-op once done
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
      const bytes = await this.segments.read(l)
      if (bytes !== undefined) return bytes
    }
    return undefined
  }

  protected async writeRaw(key: string, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const l = this.allocate(bytes.byteLength)
    const value = encodeLocation(l)
    try {
      await this.index!.write([{ type: 'put', key: INTENT_PREFIX + key, value }])
      await this.segments.write(l, bytes, this.fsync)
      await this.index!.write([
        { type: 'del', key: INTENT_PREFIX + key },
        { type: 'put', key: CHUNK_PREFIX + key, value },
      ])
    } catch (err) {
      await this.db!.del(INTENT_PREFIX + key).catch(() => {})
      await this.segments.release(l)
      throw err
    }
    this.place(key, l)
  }

  /** A full disk named as this store's: its directory and the fix, not the file it was writing. */
  /** The free-space floor kept on this store's disk, if it has one. */
  get diskFloor(): DiskFloorInfo | undefined {
    return this.floor === undefined ? undefined : { dir: this.dir, minFreeBytes: this.floor.minFreeBytes }
  }

  protected override beforeReserve(size: number): void {
    this.floor?.reserving(this.bytes, size)
  }

  protected override roomLimit(): { bytes: number; floor?: DiskFloorInfo } {
    const floor = this.floor
    if (floor === undefined || floor.limit >= this.quotaBytes) return { bytes: this.quotaBytes }
    return { bytes: floor.limit, floor: { dir: this.dir, minFreeBytes: floor.minFreeBytes } }
  }

  protected override writeError(err: unknown): unknown {
    return asDiskFull(err, this.dir)
  }

  /** Runs within {@link exclusively}, so no compaction moves the chunk meanwhile. */
  protected async deleteRaw(key: string): Promise<void> {
    const l = this.locations.get(key)
    if (l === undefined) return
    await this.db!.del(CHUNK_PREFIX + key)
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
    if (cids === undefined) await this.db!.del(PIN_PREFIX + key, { sync: true })
    else await this.db!.put(PIN_PREFIX + key, JSON.stringify(cids), { sync: true })
  }

  /**
   * Records where a chunk is; `visible` also counts it as stored (not for a compaction
   * move, nor in {@link addInPlace}, whose caller counts it).
   */
  private place(key: string, l: Location, visible = true): void {
    this.locations.set(key, l)
    const keys = this.bySegment.get(l.segment) ?? new Set<string>()
    this.bySegment.set(l.segment, keys)
    keys.add(key)
    if (visible) this.remember(key, l.length)
  }

  private async unplace(key: string, l: Location): Promise<void> {
    this.locations.delete(key)
    this.unlist(key, l)
    await this.segments.release(l)
  }

  private unlist(key: string, l: Location): void {
    const keys = this.bySegment.get(l.segment)
    keys?.delete(key)
    if (keys?.size === 0) this.bySegment.delete(l.segment)
  }

  /**
   * Room for new chunk bytes in the active segment. Each time a new segment is started,
   * the sparsest older one is compacted, so cleaning keeps pace with writing.
   */
  private allocate(length: number): Location {
    const before = this.segments.activeId
    const l = this.segments.allocate(length)
    if (l.segment !== before) this.compaction!.segmentStarted()
    return l
  }
}
