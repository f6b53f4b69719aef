/**
 * What an {@link FsChunkStore} holds open while it runs: its `level` index (with chunk
 * writes' updates grouped, `group-commit.ts`), its segment files (`segments.ts`) and, with
 * direct I/O, the probe that aligns buffers for them (`direct-io.ts`). Opened one after
 * the other, each kept as soon as it is open, so that a start failing halfway closes what
 * it opened (the index's LOCK above all) and a retry in the same process meets the real
 * cause again.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { DirectIo } from './direct-io.ts'
import { GroupCommit } from './group-commit.ts'
import { Segments } from './segments.ts'

const MiB = 1024 * 1024

/** Options of {@link StoreFiles}, as the store was given them. */
export interface StoreFilesInit {
  /** Size at which a segment file is closed and the next one started. */
  segmentBytes: number
  /** Write chunks from aligned buffers with direct I/O, where the file system has it. */
  directIo: boolean
}

/** The index, segments and direct-I/O probe of one store directory. */
export class StoreFiles {
  private readonly dir: string
  private readonly init: StoreFilesInit
  /** The index, while open. */
  db?: Level<string, string>
  /** Chunk writes' index updates, grouped, while the index is open. */
  index?: GroupCommit
  /** The direct-I/O probe, while open with `directIo` (where the file system has it). */
  direct?: DirectIo
  /** The segments: before the first start, unopened ones that have written nothing. */
  segments: Segments

  constructor(dir: string, init: StoreFilesInit) {
    this.dir = dir
    this.init = { ...init }
    this.segments = new Segments(join(dir, 'segments'), init.segmentBytes)
  }

  /** Opens the index, then the direct-I/O probe, then the segments, and finds the segments on disk. */
  async open(): Promise<void> {
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
    this.direct = this.init.directIo ? await DirectIo.open(segmentsDir) : undefined
    this.segments = new Segments(segmentsDir, this.init.segmentBytes, this.direct)
    await this.segments.load()
  }

  /** Closes the segments, the direct-I/O probe and the index, each even if one before fails. */
  async close(): Promise<void> {
    const { db, direct } = this
    this.db = undefined
    this.index = undefined
    this.direct = undefined
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
}
