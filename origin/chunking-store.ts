/**
 * A tus data store that cuts and hashes chunks as PATCH bodies arrive: each byte is
 * copied once into a chunk buffer, hashed on the worker pool and written once, into
 * the chunk store. Only the unfinished tail chunk is kept, as a small partial file, and
 * when the upload completes only the manifest remains to be built.
 *
 * State per upload, in `<dir>/<id>.json`: size, metadata, creation date, whether it is
 * private (made with an upload grant), its chunk size, the CIDs of the chunks stored so
 * far, and how many bytes of the tail file `<id>.<k>.part` (k = index of the unfinished
 * chunk) belong to the upload. Every state file and tail file is written to a temporary
 * name, synced and renamed, so a crash or a power cut at any point leaves a consistent
 * state: the offset a client reads after a restart may be lower than what it sent, never
 * higher, and the tus client simply resends from there.
 *
 * Chunks are content-addressed, so two uploads of the same bytes share them. Each
 * upload pins the chunks it recorded, one pin per checkpoint
 * (`upload:<id>:<index of its first chunk>`, so a long upload writes each CID once, not
 * a growing list each time); removing an upload drops its pins and deletes only the
 * chunks nothing else holds, and publishing hands them over to the version's pin. The
 * store's index is not synced, so a power cut may lose chunks a saved state lists: an
 * upload's offset counts only the chunks the store has, checked once per upload per run
 * and again for each new checkpoint.
 *
 * An unfinished upload expires `expiryMs` after its last PATCH stored something, not
 * after its creation: a 3 GB lesson on a slow link may take longer than that, and must
 * not be dropped while it still makes progress.
 */
import { readdir, readFile, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { logger } from '@libp2p/logger'
import { DataStore, ERRORS, Upload } from '@tus/utils'
import { CID } from 'multiformats/cid'
import { syncDir, writeFileDurably } from '../node/durable-file.ts'
import type { ChunkStore } from '../node/store/index.ts'
import { ChunkWriter } from './chunk-writer.ts'
import { DISK_CHECK_INTERVAL_BYTES, UPLOAD_ID_RE } from './constants.ts'
import { InsufficientStorageError, isDiskFullError, MissingChunksError } from './errors.ts'

const log = logger('dandelion:origin:chunking-store')

/** Bytes stored between two checkpoints of a long PATCH. */
const CHECKPOINT_BYTES = 32 * 1024 * 1024

/** Pin keys of an upload's chunks start with this (see the file comment). */
const UPLOAD_PIN_PREFIX = 'upload:'

/** Persisted state of one upload. */
interface UploadState {
  id: string
  size?: number
  metadata?: Record<string, string | null>
  creation_date?: string
  /** When a write last stored something (ISO date); expiry counts from it. */
  activity_date?: string
  chunks: string[]
  partLength: number
  /**
   * Bytes per chunk of this upload, as the origin was configured when it was created: a
   * restart with another chunk size must not change where its bytes go. Absent in older
   * states: the origin's chunk size.
   */
  chunkSize?: number
  /** Made with an upload grant: published as a private version. Absent in older states: public. */
  private?: true
}

/** Options of {@link ChunkingDataStore}. */
export interface ChunkingDataStoreInit {
  /** Directory of upload state and tail files. */
  dir: string
  /** Chunk size of uploads created from now on; each upload keeps the one it was created with. */
  chunkSize: number
  /** Chunks in flight per PATCH. */
  window: number
  /** Unfinished uploads expire this long after creation; 0 never. */
  expiryMs: number
}

/** What {@link ChunkingDataStore} uses. */
export interface ChunkingDataStoreComponents {
  store: ChunkStore
  /**
   * Throws (an `InsufficientStorageError`) when the disk is too full to go on; called
   * every `DISK_CHECK_INTERVAL_BYTES` of a PATCH body, which then stops there with what
   * it stored kept. @default no check
   */
  checkSpace?(): Promise<void>
  /**
   * The published size of an upload whose state is gone because it was published, so a
   * request that finished it (a creation-with-upload POST) still finds it complete.
   * @default none: such an upload is unknown
   */
  published?(id: string): Promise<{ size: number } | undefined>
  /**
   * Whether the upload being created with this id is private (made with an upload grant),
   * asked once, as it is created: the answer is kept in its state, so it holds across
   * restarts. @default every upload is public
   */
  isPrivate?(id: string): boolean
}

/** tus DataStore writing straight into the chunk store. */
export class ChunkingDataStore extends DataStore {
  private readonly store: ChunkStore
  private readonly checkSpace: (() => Promise<void>) | undefined
  private readonly published: ((id: string) => Promise<{ size: number } | undefined>) | undefined
  private readonly isPrivate: ((id: string) => boolean) | undefined
  private readonly init: ChunkingDataStoreInit
  /** Writes in progress: the chunks they stored but have not pinned yet must not be deleted. */
  private readonly writers = new Set<ChunkWriter>()
  /** Ids of uploads a PATCH is writing: the expiry sweep leaves them alone. */
  private readonly writing = new Set<string>()
  /** Writes and removals in progress, for {@link idle}. At most one per request. */
  private readonly busy = new Set<Promise<unknown>>()
  /**
   * Per upload, how many leading chunks of its state were found in the store once pinned:
   * pinned chunks stay, so they are not looked up again. One entry per upload on disk.
   */
  private readonly checked = new Map<string, number>()

  constructor(components: ChunkingDataStoreComponents, init: ChunkingDataStoreInit) {
    super()
    this.store = components.store
    this.checkSpace = components.checkSpace
    this.published = components.published
    this.isPrivate = components.isPrivate
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
      activity_date: upload.creation_date,
      chunks: [],
      partLength: 0,
      chunkSize: this.init.chunkSize,
      ...(this.isPrivate?.(upload.id) === true ? { private: true as const } : {}),
    })
    return upload
  }

  override async getUpload(id: string): Promise<Upload> {
    let state: UploadState
    try {
      state = await this.loadPresent(id)
    } catch (err) {
      // published and forgotten: complete (tus reads the upload again after a POST finished it)
      const done = err === ERRORS.FILE_NOT_FOUND ? await this.published?.(id) : undefined
      if (done === undefined) throw err
      return new Upload({ id, size: done.size, offset: done.size })
    }
    return new Upload({
      id,
      size: state.size,
      offset: this.offsetOf(state),
      metadata: state.metadata,
      // tus computes expiry from `creation_date`; here it runs from the last progress
      creation_date: lastActivity(state),
    })
  }

  /**
   * The chunks of a complete upload, in order, every one of them looked up in the store, their
   * size, and whether it is private.
   * @throws MissingChunksError when one is missing; the upload's offset then stops before it
   */
  async chunksOf(id: string): Promise<{ chunks: CID[]; size: number; chunkSize: number; private: boolean }> {
    const state = await this.load(id)
    this.checked.delete(id)
    const present = await this.present(state)
    if (present.chunks.length < state.chunks.length) {
      throw new MissingChunksError(
        `chunk ${present.chunks.length + 1} of ${state.chunks.length} of upload ${id} (${state.chunks[present.chunks.length]}) is not in the store; the upload resumes from byte ${this.offsetOf(present)}`,
      )
    }
    return {
      chunks: state.chunks.map((c) => CID.parse(c)),
      size: this.offsetOf(state),
      chunkSize: this.chunkSizeOf(state),
      private: state.private === true,
    }
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    return await this.track(this.writeUpload(readable, id, offset))
  }

  /**
   * Resolves once no write or removal is in progress: the origin stops its server first (which
   * ends every upload's connection, and so its write, keeping what it stored), then waits here
   * before it closes the chunk store the writes still pin and save into.
   */
  async idle(): Promise<void> {
    while (this.busy.size > 0) await Promise.allSettled([...this.busy])
  }

  private async track<T>(op: Promise<T>): Promise<T> {
    this.busy.add(op)
    try {
      return await op
    } finally {
      this.busy.delete(op)
    }
  }

  private async writeUpload(readable: Readable, id: string, offset: number): Promise<number> {
    const state = await this.loadPresent(id)
    // The Upload-Offset was checked against getUpload() by the PATCH handler under its lock.
    if (offset !== this.offsetOf(state)) throw ERRORS.INVALID_OFFSET
    const k = state.chunks.length
    const tail =
      state.partLength > 0 ? (await readFile(this.partPath(id, k))).subarray(0, state.partLength) : undefined
    const writer = new ChunkWriter(
      this.store,
      { chunkSize: this.chunkSizeOf(state), window: this.init.window },
      tail,
    )
    this.writers.add(writer)
    this.writing.add(id)
    try {
      let received = 0
      let checkpointAt = CHECKPOINT_BYTES
      let spaceCheckAt = DISK_CHECK_INTERVAL_BYTES
      let pinned = state.chunks.length
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
            const chunks = [...state.chunks, ...writer.cids.map(String)]
            await this.checkpoint({ ...state, chunks, partLength: 0, activity_date: now() }, pinned)
            pinned = chunks.length
          }
          if (received >= spaceCheckAt && this.checkSpace !== undefined) {
            // the free-space floor holds within one PATCH too: a whole 3 GB file is often
            // a single PATCH, and a disk filled to the last byte fails the index and catalog
            spaceCheckAt = received + DISK_CHECK_INTERVAL_BYTES
            await this.checkSpace()
          }
        }
      } catch (err) {
        failure = err
      }
      // whatever happened, keep every complete chunk and the tail: the client resumes from there
      try {
        // Every byte arrived: the short last chunk is stored even when the request failed
        // after it (the free-space check on the last piece, a client gone before the end of
        // the body). Kept as a tail instead, the upload would read complete (offset = size)
        // with its last chunk in no manifest: never published, and no byte left to resend.
        // A piece the store failed to take is not counted in `received`: that never gets here.
        const complete = state.size !== undefined && offset + received === state.size
        if (complete) await writer.finish()
        else await writer.drain()
        const next: UploadState = {
          ...state,
          chunks: [...state.chunks, ...writer.cids.map(String)],
          partLength: complete ? 0 : writer.tailLength,
          activity_date: received > 0 ? now() : state.activity_date,
        }
        if (next.partLength > 0) await writeFileDurably(this.partPath(id, next.chunks.length), writer.tail())
        const saved = await this.checkpoint(next, pinned)
        await this.removeParts(id, saved.partLength > 0 ? saved.chunks.length : -1)
        if (failure !== undefined) throw failure
        return this.offsetOf(saved)
      } catch (err) {
        throw mapDiskError(err)
      }
    } finally {
      this.writers.delete(writer)
      this.writing.delete(id)
    }
  }

  override async remove(id: string): Promise<void> {
    await this.track(this.removeUpload(id))
  }

  private async removeUpload(id: string): Promise<void> {
    const state = await this.load(id).catch(() => undefined)
    if (state === undefined) throw ERRORS.FILE_NOT_FOUND
    await this.forget(id)
    // Chunks of a terminated upload go, except those shared with what still needs them:
    // the store keeps pinned ones (a version, another upload), and those a write in
    // progress stored but has not pinned yet are left alone here.
    const writing = new Set<string>()
    for (const w of this.writers) for (const c of w.cids) writing.add(c.toString())
    for (const c of state.chunks) {
      if (!writing.has(c)) await this.store.delete(CID.parse(c)).catch(() => false)
    }
  }

  /**
   * Removes the state of an upload and its pins. Once it is published, its chunks belong
   * to the version, whose pin was made before.
   */
  async forget(id: string): Promise<void> {
    await unlink(this.statePath(id)).catch(() => {})
    await this.removeParts(id, -1)
    this.checked.delete(id)
    const prefix = `${UPLOAD_PIN_PREFIX}${id}:`
    for (const key of this.store.pins()) if (key.startsWith(prefix)) await this.store.unpin(key)
  }

  /** Ids of uploads whose every byte has arrived. */
  async completeUploads(): Promise<string[]> {
    const out: string[] = []
    for (const id of await this.ids()) {
      const state = await this.loadPresent(id).catch(() => undefined)
      if (state?.size !== undefined && this.offsetOf(state) === state.size) out.push(id)
    }
    return out
  }

  /**
   * Repairs the uploads an origin before 6914649 left stuck: the PATCH that brought the last
   * byte failed after it, and that code kept the short last chunk as the tail file instead of
   * storing it, so the upload read complete (offset = size) with that chunk in no manifest:
   * never published, and no byte left for its client to resend. Stores each one's last chunk
   * now; where the tail file no longer holds those bytes, drops them instead, so the client
   * resends them from the last whole chunk. Returns the ids of the uploads made whole.
   */
  async finishStuckTails(): Promise<string[]> {
    const finished: string[] = []
    for (const id of await this.ids()) {
      if (this.writing.has(id)) continue
      try {
        const state = await this.loadPresent(id)
        if (this.isStuckTail(state) && (await this.track(this.finishTail(state)))) finished.push(id)
      } catch (err) {
        log.error('upload %s: storing its last chunk failed: %s', id, (err as Error).message)
      }
    }
    return finished
  }

  /** Whether every byte of `state` arrived but its short last chunk is still the tail (see {@link finishStuckTails}). */
  private isStuckTail(state: UploadState): boolean {
    const chunkSize = this.chunkSizeOf(state)
    return (
      state.size !== undefined &&
      state.partLength > 0 &&
      state.partLength < chunkSize &&
      state.chunks.length * chunkSize + state.partLength === state.size
    )
  }

  /** Stores the tail of a stuck upload as its last chunk; false if it had to drop it instead. */
  private async finishTail(state: UploadState): Promise<boolean> {
    const k = state.chunks.length
    const tail = await readFile(this.partPath(state.id, k)).catch(() => undefined)
    if (tail === undefined || tail.byteLength < state.partLength) {
      const from = k * this.chunkSizeOf(state)
      log.error(
        'upload %s: its last %d bytes are gone; it resumes from byte %d',
        state.id,
        state.partLength,
        from,
      )
      await this.save({ ...state, partLength: 0 })
      await this.removeParts(state.id, -1)
      return false
    }
    // each upload keeps its chunk size: saved now, so a later restart with another cannot move it
    const chunkSize = this.chunkSizeOf(state)
    const writer = new ChunkWriter(this.store, { chunkSize, window: 1 }, tail.subarray(0, state.partLength))
    this.writers.add(writer)
    try {
      await writer.finish()
      const chunks = [...state.chunks, ...writer.cids.map(String)]
      const saved = await this.checkpoint({ ...state, chunkSize, chunks, partLength: 0 }, k)
      await this.removeParts(state.id, -1)
      return state.size === this.offsetOf(saved)
    } finally {
      this.writers.delete(writer)
    }
  }

  override async deleteExpired(): Promise<number> {
    if (this.init.expiryMs <= 0) return 0
    let removed = 0
    for (const id of await this.ids()) {
      if (this.writing.has(id)) continue
      const state = await this.loadPresent(id).catch(() => undefined)
      const since = state === undefined ? undefined : lastActivity(state)
      if (state === undefined || since === undefined) continue
      const finished = state.size !== undefined && this.offsetOf(state) === state.size
      if (finished || Date.parse(since) + this.init.expiryMs > Date.now()) continue
      await this.remove(id).catch(() => {})
      removed++
    }
    return removed
  }

  override getExpiration(): number {
    return this.init.expiryMs
  }

  private offsetOf(state: UploadState): number {
    const full = state.chunks.length * this.chunkSizeOf(state)
    // the last chunk of a complete upload may be short
    return state.size !== undefined && full >= state.size && state.partLength === 0
      ? state.size
      : full + state.partLength
  }

  private chunkSizeOf(state: UploadState): number {
    return state.chunkSize ?? this.init.chunkSize
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

  /** The state of `id` as far as the store has its chunks (see {@link present}). */
  private async loadPresent(id: string): Promise<UploadState> {
    return await this.present(await this.load(id))
  }

  /**
   * `state` cut before its first chunk the store does not have: lost to a power cut
   * (the store's index is not synced), or deleted with another upload of the same bytes
   * before this one pinned it. The client then resends from there.
   */
  private async present(state: UploadState): Promise<UploadState> {
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

  /**
   * Records progress: pins the chunks from index `from` on, keeps those the store has,
   * and saves the state, durably. Returns the state saved.
   */
  private async checkpoint(state: UploadState, from: number): Promise<UploadState> {
    // the pin is also what makes the chunks' index entries durable before the state names them
    await this.pinChunks(state, from)
    const saved = await this.present(state)
    await this.save(saved)
    return saved
  }

  /**
   * Pins `state.chunks` from index `from` on. An upload's pins are keyed by the index of
   * their first chunk and merged like a binary counter: a pin no longer than the chunks
   * after it joins them. So each checkpoint writes about one pin, an upload keeps
   * O(log n) pins, and each CID is written O(log n) times, not once per checkpoint. Pins
   * past the new one (chunks a state no longer lists) go.
   */
  private async pinChunks(state: UploadState, from: number): Promise<void> {
    const end = state.chunks.length
    if (end <= from) return
    const prefix = `${UPLOAD_PIN_PREFIX}${state.id}:`
    const keys = this.store
      .pins()
      .filter((k) => k.startsWith(prefix))
      .map((k) => Number(k.slice(prefix.length)))
      .filter((k) => Number.isSafeInteger(k) && k >= 0)
      .sort((a, b) => a - b)
    const below = keys.filter((k) => k < from)
    // no pin below: the state predates upload pins, so pin it all
    let start = below.length === 0 ? 0 : from
    while (below.length > 0 && start - below[below.length - 1] <= end - start) start = below.pop()!
    await this.store.pin(
      prefix + start,
      state.chunks.slice(start).map((c) => CID.parse(c)),
    )
    // only once the new pin holds them
    for (const k of keys) if (k > start) await this.store.unpin(prefix + k)
  }

  private async save(state: UploadState): Promise<void> {
    await writeFileDurably(this.statePath(state.id), JSON.stringify(state))
  }

  private async removeParts(id: string, keep: number): Promise<void> {
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

  private statePath(id: string): string {
    return join(this.init.dir, `${id}.json`)
  }

  private partPath(id: string, k: number): string {
    return join(this.init.dir, `${id}.${k}.part`)
  }
}

/** When an upload last made progress: states written before `activity_date` have only their creation. */
function lastActivity(state: UploadState): string | undefined {
  return state.activity_date ?? state.creation_date
}

const now = (): string => new Date().toISOString()

function mapDiskError(err: unknown): unknown {
  if (isDiskFullError(err)) {
    log.error('disk full while writing an upload')
    return new InsufficientStorageError(
      'the origin ran out of disk space; resume the upload once space is freed',
    )
  }
  return err
}
