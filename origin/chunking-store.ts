/**
 * A tus data store that cuts and hashes chunks as PATCH bodies arrive: each byte is
 * copied once into a chunk buffer, hashed on the worker pool and written once, into
 * the chunk store. Only the unfinished tail chunk is kept, as a small partial file, and
 * when the upload completes only the manifest remains to be built.
 *
 * State per upload, in `<dir>/<id>.json`: size, metadata, creation date, the CIDs of
 * the chunks stored so far, and how many bytes of the tail file `<id>.<k>.part`
 * (k = index of the unfinished chunk) belong to the upload. Every state file and tail
 * file is written to a temporary name and renamed, so a crash at any point leaves a
 * consistent state: the offset a client reads after a restart may be lower than what
 * it sent, never higher, and the tus client simply resends from there.
 */
import { randomBytes } from 'node:crypto'
import { readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { logger } from '@libp2p/logger'
import { DataStore, ERRORS, Upload } from '@tus/utils'
import { CID } from 'multiformats/cid'
import type { ChunkStore } from '../node/store/index.ts'
import { ChunkWriter } from './chunk-writer.ts'
import { UPLOAD_ID_RE } from './constants.ts'
import { InsufficientStorageError } from './errors.ts'

const log = logger('dandelion:origin:chunking-store')

/** Bytes stored between two checkpoints of a long PATCH. */
const CHECKPOINT_BYTES = 32 * 1024 * 1024

/** Persisted state of one upload. */
interface UploadState {
  id: string
  size?: number
  metadata?: Record<string, string | null>
  creation_date?: string
  chunks: string[]
  partLength: number
}

/** Options of {@link ChunkingDataStore}. */
export interface ChunkingDataStoreInit {
  /** Directory of upload state and tail files. */
  dir: string
  chunkSize: number
  /** Chunks in flight per PATCH. */
  window: number
  /** Unfinished uploads expire this long after creation; 0 never. */
  expiryMs: number
}

/** tus DataStore writing straight into the chunk store. */
export class ChunkingDataStore extends DataStore {
  private readonly store: ChunkStore
  private readonly init: ChunkingDataStoreInit

  constructor(components: { store: ChunkStore }, init: ChunkingDataStoreInit) {
    super()
    this.store = components.store
    this.init = { ...init }
    this.extensions = ['creation', 'creation-with-upload', 'termination', 'expiration']
  }

  override async create(upload: Upload): Promise<Upload> {
    upload.creation_date ??= new Date().toISOString()
    await this.save({
      id: upload.id,
      size: upload.size,
      metadata: upload.metadata,
      creation_date: upload.creation_date,
      chunks: [],
      partLength: 0,
    })
    return upload
  }

  override async getUpload(id: string): Promise<Upload> {
    const state = await this.load(id)
    return new Upload({
      id,
      size: state.size,
      offset: this.offsetOf(state),
      metadata: state.metadata,
      creation_date: state.creation_date,
    })
  }

  /** The chunks of a complete upload, in order. */
  async chunksOf(id: string): Promise<{ chunks: CID[]; size: number }> {
    const state = await this.load(id)
    return { chunks: state.chunks.map((c) => CID.parse(c)), size: this.offsetOf(state) }
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    const state = await this.load(id)
    // The Upload-Offset was checked against getUpload() by the PATCH handler under its lock.
    if (offset !== this.offsetOf(state)) throw ERRORS.INVALID_OFFSET
    const k = state.chunks.length
    const tail =
      state.partLength > 0 ? (await readFile(this.partPath(id, k))).subarray(0, state.partLength) : undefined
    const writer = new ChunkWriter(
      this.store,
      { chunkSize: this.init.chunkSize, window: this.init.window },
      tail,
    )
    let received = 0
    let checkpointAt = CHECKPOINT_BYTES
    let failure: unknown
    try {
      for await (const piece of readable) {
        const bytes = piece as Buffer
        const room = state.size === undefined ? bytes.byteLength : state.size - offset - received
        await writer.write(bytes.byteLength > room ? bytes.subarray(0, room) : bytes)
        received += Math.min(bytes.byteLength, room)
        if (received >= checkpointAt) {
          // a long PATCH keeps its progress: record the chunks stored so far
          checkpointAt += CHECKPOINT_BYTES
          await this.save({ ...state, chunks: [...state.chunks, ...writer.cids.map(String)], partLength: 0 })
        }
      }
    } catch (err) {
      failure = err
    }
    // whatever happened, keep every complete chunk and the tail: the client resumes from there
    try {
      const complete = state.size !== undefined && offset + received === state.size
      if (complete && failure === undefined) await writer.finish()
      else await writer.drain()
      const next: UploadState = {
        ...state,
        chunks: [...state.chunks, ...writer.cids.map(String)],
        partLength: complete && failure === undefined ? 0 : writer.tailLength,
      }
      if (next.partLength > 0) await this.atomicWrite(this.partPath(id, next.chunks.length), writer.tail())
      await this.save(next)
      await this.removeParts(id, next.partLength > 0 ? next.chunks.length : -1)
      if (failure !== undefined) throw failure
      return this.offsetOf(next)
    } catch (err) {
      throw mapDiskError(err)
    }
  }

  override async remove(id: string): Promise<void> {
    const state = await this.load(id).catch(() => undefined)
    if (state === undefined) throw ERRORS.FILE_NOT_FOUND
    await unlink(this.statePath(id)).catch(() => {})
    await this.removeParts(id, -1)
    // chunks of a terminated upload go, except those a published version pins
    for (const c of state.chunks) await this.store.delete(CID.parse(c)).catch(() => false)
  }

  /** Removes the state of a published upload; its chunks now belong to the version. */
  async forget(id: string): Promise<void> {
    await unlink(this.statePath(id)).catch(() => {})
    await this.removeParts(id, -1)
  }

  /** Ids of uploads whose every byte has arrived. */
  async completeUploads(): Promise<string[]> {
    const out: string[] = []
    for (const id of await this.ids()) {
      const state = await this.load(id).catch(() => undefined)
      if (state?.size !== undefined && this.offsetOf(state) === state.size) out.push(id)
    }
    return out
  }

  override async deleteExpired(): Promise<number> {
    if (this.init.expiryMs <= 0) return 0
    let removed = 0
    for (const id of await this.ids()) {
      const state = await this.load(id).catch(() => undefined)
      if (state === undefined || state.creation_date === undefined) continue
      const finished = state.size !== undefined && this.offsetOf(state) === state.size
      if (finished || Date.parse(state.creation_date) + this.init.expiryMs > Date.now()) continue
      await this.remove(id).catch(() => {})
      removed++
    }
    return removed
  }

  override getExpiration(): number {
    return this.init.expiryMs
  }

  private offsetOf(state: UploadState): number {
    const full = state.chunks.length * this.init.chunkSize
    // the last chunk of a complete upload may be short
    return state.size !== undefined && full >= state.size && state.partLength === 0
      ? state.size
      : full + state.partLength
  }

  private async ids(): Promise<string[]> {
    const names = await readdir(this.init.dir).catch(() => [] as string[])
    return names
      .filter((n) => n.endsWith('.json') && UPLOAD_ID_RE.test(n.slice(0, -5)))
      .map((n) => n.slice(0, -5))
  }

  private async load(id: string): Promise<UploadState> {
    if (!UPLOAD_ID_RE.test(id)) throw ERRORS.FILE_NOT_FOUND
    try {
      return JSON.parse(await readFile(this.statePath(id), 'utf8')) as UploadState
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw ERRORS.FILE_NOT_FOUND
      throw err
    }
  }

  private async save(state: UploadState): Promise<void> {
    await this.atomicWrite(this.statePath(state.id), JSON.stringify(state))
  }

  private async atomicWrite(path: string, data: string | Uint8Array): Promise<void> {
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
    await writeFile(tmp, data)
    await rename(tmp, path)
  }

  private async removeParts(id: string, keep: number): Promise<void> {
    const names = await readdir(this.init.dir).catch(() => [] as string[])
    for (const n of names) {
      if (!n.startsWith(`${id}.`) || !n.endsWith('.part')) continue
      if (n === `${id}.${keep}.part`) continue
      await unlink(join(this.init.dir, n)).catch(() => {})
    }
  }

  private statePath(id: string): string {
    return join(this.init.dir, `${id}.json`)
  }

  private partPath(id: string, k: number): string {
    return join(this.init.dir, `${id}.${k}.part`)
  }
}

function mapDiskError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    log.error('disk full while writing an upload')
    return new InsufficientStorageError(
      'the origin ran out of disk space; resume the upload once space is freed',
    )
  }
  return err
}
