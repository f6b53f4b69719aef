/**
 * The on-disk chunk store: chunk bytes in content-addressed files
 * (`chunks/<last two chars>/<cid>`), and a `level` index of each chunk's size and of
 * the pins. Measured against keeping the bytes inside level (see `bench/store.ts` and
 * the README): files write each byte once, where LevelDB rewrites 1 MiB values again
 * at every compaction, and files can be streamed and range-read by the playback server.
 *
 * Crash safety: a chunk's file is written completely, then indexed, and only indexed
 * chunks are visible. At start, index entries whose file is gone or has the wrong size
 * are dropped, and files without an index entry (a crash mid-write, or between write
 * and index) are hashed again: indexed if they verify, deleted if not. Concurrent puts
 * of one chunk share one write (see the base store), so a file is never rewritten
 * while it is visible.
 */
import { mkdir, open, readdir, readFile, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { Level } from 'level'
import { CID } from 'multiformats/cid'
import { blake3, equalBytes } from '../content/cid.ts'
import { BaseChunkStore, type ChunkStoreInit } from './base-store.ts'
import type { AbortOptions } from './index.ts'

/** Options of {@link FsChunkStore}. */
export interface FsChunkStoreInit extends ChunkStoreInit {
  /** Directory that holds `chunks/` and `index/`. */
  dir: string
  /**
   * fdatasync every chunk before it becomes visible, so a power cut cannot leave a
   * visible but empty file. A killed process never can: the rename is what publishes.
   * @default false
   */
  fsync?: boolean
}

const MiB = 1024 * 1024
const CHUNK_PREFIX = 'c!'
const PIN_PREFIX = 'p!'

/** Chunk bytes in files, index and pins in `level`. */
export class FsChunkStore extends BaseChunkStore {
  private readonly dir: string
  private readonly fsync: boolean
  /** Chunk sub-directories known to exist (at most 1024: two base32 characters). */
  private readonly dirs = new Set<string>()
  private db?: Level<string, string>

  constructor(init: FsChunkStoreInit) {
    super(init)
    this.dir = init.dir
    this.fsync = init.fsync ?? false
  }

  async start(): Promise<void> {
    if (this.started) return
    await mkdir(join(this.dir, 'chunks'), { recursive: true })
    // small entries only (sizes, pins): a small cache and write buffer keep RSS down
    const db = new Level<string, string>(join(this.dir, 'index'), {
      cacheSize: 2 * MiB,
      writeBufferSize: MiB,
    })
    await db.open()
    this.db = db
    const indexed = new Set<string>()
    const stale: string[] = []
    for await (const [k, v] of db.iterator({ gt: CHUNK_PREFIX, lt: `${CHUNK_PREFIX}~` })) {
      const key = k.slice(CHUNK_PREFIX.length)
      const size = await this.fileSize(key)
      if (size === undefined || size !== Number(v)) stale.push(k)
      else {
        indexed.add(key)
        this.remember(key, size)
      }
    }
    if (stale.length > 0) await db.batch(stale.map((key) => ({ type: 'del' as const, key })))
    await this.adoptOrphans(indexed)
    for await (const [k, v] of db.iterator({ gt: PIN_PREFIX, lt: `${PIN_PREFIX}~` })) {
      this.applyPin(k.slice(PIN_PREFIX.length), new Set(JSON.parse(v) as string[]))
    }
    this.started = true
  }

  async stop(): Promise<void> {
    this.started = false
    await this.db?.close()
    this.db = undefined
  }

  /** Absolute path of a stored chunk's file (for streaming reads). */
  pathOf(cid: CID): string {
    return this.chunkPath(cid.toString())
  }

  protected async readRaw(key: string): Promise<Uint8Array | undefined> {
    try {
      return await readFile(this.chunkPath(key))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  protected async writeRaw(key: string, bytes: Uint8Array, options: AbortOptions = {}): Promise<void> {
    // Written in place, then indexed: until the index entry exists the chunk is invisible,
    // and start() re-verifies any file it finds without one (a crash mid-write).
    const final = this.chunkPath(key)
    const dir = join(final, '..')
    if (!this.dirs.has(dir)) {
      await mkdir(dir, { recursive: true })
      this.dirs.add(dir)
    }
    options.signal?.throwIfAborted()
    const fh = await open(final, 'w')
    try {
      // one write call per chunk: FileHandle.writeFile with a signal writes in small
      // slices and costs about twice the CPU (measured)
      for (let offset = 0; offset < bytes.byteLength; ) {
        const { bytesWritten } = await fh.write(bytes, offset, bytes.byteLength - offset, offset)
        offset += bytesWritten
      }
      if (this.fsync) await fh.datasync()
    } catch (err) {
      await fh.close()
      await unlink(final).catch(() => {})
      throw err
    }
    await fh.close()
    await this.db!.put(CHUNK_PREFIX + key, String(bytes.byteLength))
  }

  protected async deleteRaw(key: string): Promise<void> {
    // drop the index entry first: a crash in between leaves an orphan file that start() re-verifies
    await this.db!.del(CHUNK_PREFIX + key)
    await unlink(this.chunkPath(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err
    })
  }

  protected async savePin(key: string, cids: string[] | undefined): Promise<void> {
    if (cids === undefined) await this.db!.del(PIN_PREFIX + key)
    else await this.db!.put(PIN_PREFIX + key, JSON.stringify(cids))
  }

  private chunkPath(key: string): string {
    // CID strings are base32 lower-case: safe file names, and never contain `/` or `..`
    return join(this.dir, 'chunks', key.slice(-2), key)
  }

  private async fileSize(key: string): Promise<number | undefined> {
    try {
      return (await stat(this.chunkPath(key))).size
    } catch {
      return undefined
    }
  }

  private async adoptOrphans(indexed: Set<string>): Promise<void> {
    const root = join(this.dir, 'chunks')
    for (const sub of await readdir(root)) {
      for (const name of await readdir(join(root, sub))) {
        if (indexed.has(name)) continue
        const path = join(root, sub, name)
        let cid: CID | undefined
        try {
          cid = CID.parse(name)
        } catch {
          cid = undefined
        }
        const bytes = cid === undefined ? undefined : await readFile(path)
        if (cid === undefined || bytes === undefined || !equalBytes(blake3(bytes), cid.multihash.digest)) {
          await unlink(path)
          continue
        }
        await this.db!.put(CHUNK_PREFIX + name, String(bytes.byteLength))
        this.remember(name, bytes.byteLength)
      }
    }
  }
}
