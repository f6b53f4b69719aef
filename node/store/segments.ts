/**
 * The segment files of {@link FsChunkStore}: chunk bytes are appended to large files
 * (`<id>.seg`, default 64 MiB each) instead of one file per chunk. On this project's
 * test VM (ext4) creating 1024 files of 1 MiB cost 2.3 CPU-seconds against 0.35 for the
 * same bytes appended to segments (`bench/store.ts` keeps the comparison).
 *
 * A location is allocated synchronously (so concurrent writes never overlap) and
 * written with a positional write. Readers count as users of a segment: a segment that
 * is dropped while a read is in flight is closed and unlinked when the last one ends.
 * Which segments keep their files open is `segment-files.ts`'s business.
 */
import { type FileHandle, open, readdir, stat } from 'node:fs/promises'
import { ChunkStoreCorruptError } from '../errors.ts'
import { DIRECT_ALIGN, type DirectIo } from './direct-io.ts'
import { MAX_OPEN_SEGMENTS, type SegmentFile, SegmentFiles } from './segment-files.ts'

/** Where a chunk's bytes are. */
export interface Location {
  segment: number
  offset: number
  length: number
}

interface Segment extends SegmentFile {
  /** Bytes allocated: the file is this long once every write has landed. */
  size: number
  /** Bytes of indexed chunks, and of allocations not yet indexed or released. */
  live: number
  /** A fresh file whose directory entry {@link Segments.sync} has made durable. */
  named?: boolean
  /** The last write queued: writes to one segment go one at a time, in order. */
  tail: Promise<void>
}

/** The segment files of one directory. */
export class Segments {
  private readonly dir: string
  private readonly segmentBytes: number
  private readonly direct?: DirectIo
  private readonly all = new Map<number, Segment>()
  private active?: Segment
  private readonly files: SegmentFiles
  private nextId = 1
  /** Chunk bytes written with direct I/O, and through the page cache. */
  readonly written = { direct: 0, buffered: 0 }

  /**
   * With `direct`, chunks start on {@link DIRECT_ALIGN} boundaries and aligned buffers skip
   * the page cache. `maxOpen` bounds the segments whose files stay open (default
   * {@link MAX_OPEN_SEGMENTS}).
   */
  constructor(dir: string, segmentBytes: number, direct?: DirectIo, maxOpen = MAX_OPEN_SEGMENTS) {
    this.dir = dir
    this.segmentBytes = segmentBytes
    this.direct = direct
    this.files = new SegmentFiles(dir, maxOpen, () => this.active)
  }

  /** Finds the segments on disk. New chunks go to a new segment. */
  async load(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      const id = SegmentFiles.idOf(name)
      if (id === undefined) continue
      const { size } = await stat(this.files.pathOf(id))
      this.all.set(id, { id, size, live: 0, fresh: false, tail: Promise.resolve(), users: 0, dropped: false })
      this.nextId = Math.max(this.nextId, id + 1)
    }
  }

  /** Whether `l` lies inside an existing segment's bytes. */
  contains(l: Location): boolean {
    const s = this.all.get(l.segment)
    return s !== undefined && l.offset + l.length <= s.size
  }

  /** Counts `l`, found in the index at start, as live data. */
  addLive(l: Location): void {
    const s = this.all.get(l.segment)
    if (s !== undefined) s.live += l.length
  }

  /** Un-counts `l`; a segment left empty is deleted (unless new chunks still go to it). */
  async release(l: Location): Promise<void> {
    const s = this.all.get(l.segment)
    if (s === undefined) return
    s.live -= l.length
    if (s !== this.active && s.live <= 0) await this.drop(s.id)
  }

  /** Deletes every empty segment; returns the others less than half live, sparsest first. */
  sparse(): number[] {
    const found: Segment[] = []
    for (const s of [...this.all.values()]) {
      if (s === this.active) continue
      if (s.live <= 0) void this.drop(s.id)
      else if (s.live < s.size / 2) found.push(s)
    }
    return found.sort((a, b) => a.live / a.size - b.live / b.size).map((s) => s.id)
  }

  /** The id of the segment new chunks go to, if one has been started. */
  get activeId(): number | undefined {
    return this.active?.id
  }

  /**
   * Reserves room for `length` bytes at the end of the active segment. The room counts
   * as live until {@link release}d, so the segment stays while the chunk is written and
   * indexed.
   */
  allocate(length: number): Location {
    let s = this.active
    if (s === undefined || (s.size > 0 && s.size + length > this.segmentBytes)) {
      s = {
        id: this.nextId++,
        size: 0,
        live: 0,
        fresh: true,
        tail: Promise.resolve(),
        users: 0,
        dropped: false,
      }
      this.all.set(s.id, s)
      const previous = this.active
      this.active = s
      if (previous !== undefined && previous.live <= 0) void this.drop(previous.id)
    }
    const offset = this.direct === undefined ? s.size : Math.ceil(s.size / DIRECT_ALIGN) * DIRECT_ALIGN
    const l = { segment: s.id, offset, length }
    s.size = offset + length
    s.live += length
    return l
  }

  /**
   * Writes `bytes` at `l` (from {@link allocate}); with `sync`, waits until they are on
   * disk. Buffered writes to one segment are queued and go one at a time, in allocation
   * order: ext4 takes the inode lock for every buffered write, and concurrent writers to
   * one file spent their time spinning on it (measured with perf). Direct writes wait on
   * the disk, not the CPU, and go in parallel.
   */
  async write(l: Location, bytes: Uint8Array, sync: boolean): Promise<void> {
    const s = this.use(l.segment)
    if (s === undefined) throw new ChunkStoreCorruptError(`segment ${l.segment} is gone`)
    const direct = this.direct?.accepts(bytes) === true && l.offset % DIRECT_ALIGN === 0
    const run = direct
      ? this.files.directHandle(s).then((fh) => writeAll(fh, bytes, l.offset))
      : s.tail.then(async () => writeAll(await this.files.handle(s), bytes, l.offset))
    if (!direct) s.tail = run.catch(() => {})
    try {
      await run
      this.written[direct ? 'direct' : 'buffered'] += bytes.byteLength
      if (sync) await (await this.files.handle(s)).datasync()
    } finally {
      await this.done(s)
    }
  }

  /**
   * Waits until every byte written to segment `id` so far is on disk, and, for a file
   * this process created, its name too: a power cut could otherwise lose a new file
   * whose data was synced.
   */
  async sync(id: number): Promise<void> {
    const s = this.use(id)
    if (s === undefined) throw new ChunkStoreCorruptError(`segment ${id} is gone`)
    try {
      await (await this.files.handle(s)).datasync()
      if (s.fresh && s.named !== true) {
        const dir = await open(this.dir, 'r')
        try {
          await dir.sync()
        } finally {
          await dir.close()
        }
        s.named = true
      }
    } finally {
      await this.done(s)
    }
  }

  /**
   * Opens `l` (from {@link allocate}) for a writer outside this class, such as a hash
   * worker, that writes `bytes` there with a positional write on `fd`: a direct-I/O
   * descriptor when `bytes` qualify. The segment stays open until `done`; `done(true)`
   * counts the bytes as written and, with `sync`, waits until they are on disk.
   */
  async target(
    l: Location,
    bytes: Uint8Array,
    sync: boolean,
  ): Promise<{ fd: number; done(written: boolean): Promise<void> }> {
    const s = this.use(l.segment)
    if (s === undefined) throw new ChunkStoreCorruptError(`segment ${l.segment} is gone`)
    const direct = this.direct?.accepts(bytes) === true && l.offset % DIRECT_ALIGN === 0
    let fh: FileHandle
    try {
      fh = direct ? await this.files.directHandle(s) : await this.files.handle(s)
    } catch (err) {
      await this.done(s)
      throw err
    }
    let open = true
    return {
      fd: fh.fd,
      done: async (written) => {
        if (!open) return
        open = false
        try {
          if (!written) return
          this.written[direct ? 'direct' : 'buffered'] += bytes.byteLength
          if (sync) await (await this.files.handle(s)).datasync()
        } finally {
          await this.done(s)
        }
      },
    }
  }

  /** Reads the bytes at `l`; `undefined` if the segment was dropped meanwhile. */
  async read(l: Location): Promise<Uint8Array | undefined> {
    const s = this.use(l.segment)
    if (s === undefined) return undefined
    try {
      const fh = await this.files.handle(s)
      const out = Buffer.allocUnsafeSlow(l.length)
      for (let got = 0; got < l.length; ) {
        const { bytesRead } = await fh.read(out, got, l.length - got, l.offset + got)
        if (bytesRead === 0)
          throw new ChunkStoreCorruptError(`segment ${l.segment} ends before byte ${l.offset + l.length}`)
        got += bytesRead
      }
      return out
    } finally {
      await this.done(s)
    }
  }

  /**
   * Closes and deletes a segment, at once if nobody is reading or writing it (the
   * promise waits for that), else when the last reader or writer is done.
   */
  async drop(id: number): Promise<void> {
    const s = this.all.get(id)
    if (s === undefined) return
    this.all.delete(id)
    if (s === this.active) this.active = undefined
    s.dropped = true
    if (s.users === 0) await this.files.remove(s)
  }

  /** Closes every file. */
  async close(): Promise<void> {
    const open = [...this.all.values()]
    this.all.clear()
    this.active = undefined
    await this.files.closeAll(open)
  }

  private use(id: number): Segment | undefined {
    const s = this.all.get(id)
    if (s !== undefined) s.users++
    return s
  }

  private async done(s: Segment): Promise<void> {
    s.users--
    if (s.dropped && s.users === 0) await this.files.remove(s)
    else this.files.closeIdle()
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.byteLength; ) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done, position + done)
    done += bytesWritten
  }
}
