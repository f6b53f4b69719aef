/**
 * The files of unfinished uploads, in the upload directory: per upload, its state
 * `<id>.json` (see `upload-state.ts`) and its tail file `<id>.<k>.part` (k = index of the
 * unfinished chunk). Every one is written to a temporary name, synced and renamed, so a
 * crash or a power cut at any point leaves a consistent state: the offset a client reads
 * after a restart may be lower than what it sent, never higher, and the tus client simply
 * resends from there.
 *
 * The store's index is not synced, so a power cut may lose chunks a saved state lists: a
 * state is read only as far as the store has its chunks, checked once per upload per run
 * and again for each new checkpoint.
 */
import { readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { ERRORS } from '@tus/utils'
import { CID } from 'multiformats/cid'
import { syncDir, writeFileDurably } from '../node/durable-file.ts'
import type { ChunkStore } from '../node/store/index.ts'
import { UPLOAD_ID_RE } from './constants.ts'
import { inferChunkSize } from './legacy-chunk-size.ts'
import { pinUploadChunks, unpinUpload } from './upload-pins.ts'
import type { StoredUploadState, UploadState } from './upload-state.ts'

const log = logger('dandelion:origin:upload-records')

/** What {@link UploadRecords} uses. */
export interface UploadRecordsComponents {
  /** The store the uploads' chunks are in. */
  store: ChunkStore
}

/** Options of {@link UploadRecords}. */
export interface UploadRecordsInit {
  /** Directory of upload state and tail files. */
  dir: string
  /** Chunk size the origin runs with: an older state that records none and has no whole chunk yet is cut in it. */
  chunkSize: number
}

/** Reads and writes the state and tail files of unfinished uploads. */
export class UploadRecords {
  private readonly store: ChunkStore
  private readonly init: UploadRecordsInit
  /**
   * Per upload, how many leading chunks of its state were found in the store once pinned:
   * pinned chunks stay, so they are not looked up again. One entry per upload on disk.
   */
  private readonly checked = new Map<string, number>()
  /**
   * Per upload whose state records no chunk size, the one it was cut in, until its state is
   * saved with it (see `legacy-chunk-size.ts`). One entry per upload on disk.
   */
  private readonly inferred = new Map<string, number>()

  constructor(components: UploadRecordsComponents, init: UploadRecordsInit) {
    this.store = components.store
    this.init = { ...init }
  }

  /** Ids of the uploads on disk. */
  async ids(): Promise<string[]> {
    const names = await readdir(this.init.dir).catch(() => [] as string[])
    return names
      .filter((n) => n.endsWith('.json') && UPLOAD_ID_RE.test(n.slice(0, -5)))
      .map((n) => n.slice(0, -5))
  }

  /**
   * The state of `id` as on disk.
   * @throws tus's FILE_NOT_FOUND when there is none
   */
  async read(id: string): Promise<StoredUploadState> {
    if (!UPLOAD_ID_RE.test(id)) throw ERRORS.FILE_NOT_FOUND
    try {
      return JSON.parse(await readFile(this.statePath(id), 'utf8')) as StoredUploadState
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw ERRORS.FILE_NOT_FOUND
      throw err
    }
  }

  /**
   * The state of `id`, with its chunk size.
   * @throws UploadNotResumableError when it is an older state no chunk size makes add up
   */
  async load(id: string): Promise<UploadState> {
    const stored = await this.read(id)
    if (stored.chunkSize !== undefined) return stored as UploadState
    let chunkSize = this.inferred.get(id)
    if (chunkSize === undefined) {
      chunkSize = await inferChunkSize(this.store, stored, this.init.chunkSize)
      this.inferred.set(id, chunkSize)
    }
    return { ...stored, chunkSize }
  }

  /** The state of `id` as far as the store has its chunks (see {@link present}). */
  async loadPresent(id: string): Promise<UploadState> {
    return await this.present(await this.load(id))
  }

  /**
   * `state` cut before its first chunk the store does not have: lost to a power cut
   * (the store's index is not synced), or deleted with another upload of the same bytes
   * before this one pinned it. The client then resends from there.
   */
  async present(state: UploadState): Promise<UploadState> {
    const from = Math.min(this.checked.get(state.id) ?? 0, state.chunks.length)
    for (let i = from; i < state.chunks.length; i++) {
      if (!(await this.store.has(CID.parse(state.chunks[i])))) {
        log.error(
          'upload %s: chunk %d (%s) is not in the store; resuming before it',
          state.id,
          i,
          state.chunks[i],
        )
        this.checked.set(state.id, i)
        return { ...state, chunks: state.chunks.slice(0, i), partLength: 0 }
      }
    }
    this.checked.set(state.id, state.chunks.length)
    return state
  }

  /** Looks up every chunk of `id` in the store again at its next {@link present}. */
  recheck(id: string): void {
    this.checked.delete(id)
  }

  /**
   * Records progress: pins the chunks from index `from` on, keeps those the store has,
   * and saves the state, durably. Returns the state saved.
   */
  async checkpoint(state: UploadState, from: number): Promise<UploadState> {
    // the pin is also what makes the chunks' index entries durable before the state names them
    await pinUploadChunks(this.store, state.id, state.chunks, from)
    const saved = await this.present(state)
    await this.save(saved)
    return saved
  }

  /** Saves `state` durably, its chunk size with it. */
  async save(state: UploadState): Promise<void> {
    await writeFileDurably(this.statePath(state.id), JSON.stringify(state))
    this.inferred.delete(state.id)
  }

  /** The tail file of `id`'s chunk `k`, whole (only its state's `partLength` bytes count). */
  async readTail(id: string, k: number): Promise<Buffer> {
    return await readFile(this.partPath(id, k))
  }

  /** Replaces the tail file of `id`'s chunk `k` durably. */
  async writeTail(id: string, k: number, bytes: Uint8Array): Promise<void> {
    await writeFileDurably(this.partPath(id, k), bytes)
  }

  /** Removes the tail files of `id`, but the one of chunk `keep` (-1: all). */
  async removeParts(id: string, keep: number): Promise<void> {
    const names = await readdir(this.init.dir).catch(() => [] as string[])
    let removed = false
    for (const n of names) {
      if (!n.startsWith(`${id}.`) || !n.endsWith('.part')) continue
      if (n === `${id}.${keep}.part`) continue
      await unlink(join(this.init.dir, n)).catch(() => {})
      removed = true
    }
    if (removed) await syncDir(this.init.dir)
  }

  /** Removes the state, the tail files and the pins of `id`. */
  async forget(id: string): Promise<void> {
    await unlink(this.statePath(id)).catch(() => {})
    await this.removeParts(id, -1)
    this.checked.delete(id)
    this.inferred.delete(id)
    await unpinUpload(this.store, id)
  }

  private statePath(id: string): string {
    return join(this.init.dir, `${id}.json`)
  }

  private partPath(id: string, k: number): string {
    return join(this.init.dir, `${id}.${k}.part`)
  }
}
