/**
 * A tus data store that cuts and hashes chunks as PATCH bodies arrive: each byte is
 * copied once into a chunk buffer, hashed on the worker pool and written once, into
 * the chunk store. Only the unfinished tail chunk is kept, as a small partial file, and
 * when the upload completes only the manifest remains to be built.
 *
 * Per upload, a state (size, metadata, dates, whether it is private, its chunk size, the
 * CIDs of the chunks stored so far, how many bytes of the tail file belong to it: see
 * `upload-state.ts`) and a tail file, written durably (`upload-records.ts`). A PATCH body
 * is appended by `upload-append.ts`.
 *
 * Chunks are content-addressed, so two uploads of the same bytes share them. Each
 * upload pins the chunks it recorded (`upload-pins.ts`); removing an upload drops its
 * pins and deletes only the chunks nothing else holds, and publishing hands them over to
 * the version's pin.
 *
 * An unfinished upload expires `expiryMs` after its last PATCH stored something, not
 * after its creation: a 3 GB lesson on a slow link may take longer than that, and must
 * not be dropped while it still makes progress.
 */
import type { Readable } from 'node:stream'
import { DataStore, ERRORS, Upload } from '@tus/utils'
import { CID } from 'multiformats/cid'
import type { ChunkStore } from '../node/store/index.ts'
import type { ChunkWriter } from './chunk-writer.ts'
import { MissingChunksError, UploadNotResumableError } from './errors.ts'
import { isStuckTail, repairStuckTail } from './stuck-tails.ts'
import { appendBody } from './upload-append.ts'
import { UploadRecords } from './upload-records.ts'
import { holdsWholeFile, isComplete, lastActivity, offsetOf, type UploadState } from './upload-state.ts'

/** Options of {@link ChunkingDataStore}. */
export interface ChunkingDataStoreInit {
  /** Directory of upload state and tail files. */
  dir: string
  /** Chunk size of uploads created from now on; each upload keeps the one it was created with. */
  chunkSize: number
  /** Chunks in flight per PATCH. */
  window: number
  /** Unfinished uploads expire this long after their last progress; 0 never. */
  expiryMs: number
}

/** What {@link ChunkingDataStore} uses. */
export interface ChunkingDataStoreComponents {
  store: ChunkStore
  /**
   * Writes in progress: shared with whatever else deletes chunks (the origin's version
   * removal), which must leave what they stored and have not pinned yet. @default its own
   */
  writers?: Set<ChunkWriter>
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
  private readonly records: UploadRecords
  private readonly checkSpace: (() => Promise<void>) | undefined
  private readonly published: ((id: string) => Promise<{ size: number } | undefined>) | undefined
  private readonly isPrivate: ((id: string) => boolean) | undefined
  private readonly init: ChunkingDataStoreInit
  /** Writes in progress: the chunks they stored but have not pinned yet must not be deleted. */
  private readonly writers: Set<ChunkWriter>
  /** Ids of uploads a PATCH is writing: the expiry sweep and the repair leave them alone. */
  private readonly writing = new Set<string>()
  /** Writes, repairs and removals in progress, for {@link idle}. At most one per request. */
  private readonly busy = new Set<Promise<unknown>>()

  constructor(components: ChunkingDataStoreComponents, init: ChunkingDataStoreInit) {
    super()
    this.store = components.store
    this.writers = components.writers ?? new Set()
    this.checkSpace = components.checkSpace
    this.published = components.published
    this.isPrivate = components.isPrivate
    this.init = { ...init }
    this.records = new UploadRecords({ store: this.store }, { dir: init.dir, chunkSize: init.chunkSize })
    this.extensions = ['creation', 'creation-with-upload', 'termination', 'expiration']
  }

  override async create(upload: Upload): Promise<Upload> {
    upload.creation_date ??= new Date().toISOString()
    // a new state: its chunks are looked up from the first (a grant's upload may be created again)
    this.records.recheck(upload.id)
    await this.records.save({
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
      state = await this.records.loadPresent(id)
    } catch (err) {
      // published and forgotten: complete (tus reads the upload again after a POST finished it)
      const done = err === ERRORS.FILE_NOT_FOUND ? await this.published?.(id) : undefined
      if (done === undefined) throw err
      return new Upload({ id, size: done.size, offset: done.size })
    }
    return new Upload({
      id,
      size: state.size,
      offset: offsetOf(state),
      metadata: state.metadata,
      // tus computes expiry from `creation_date`; here it runs from the last progress
      creation_date: lastActivity(state),
    })
  }

  /**
   * The chunks of a complete upload, in order, every one of them looked up in the store, their
   * size, and whether it is private.
   * @throws MissingChunksError when one is missing (the upload's offset then stops before it),
   *   or when they are not the whole file (a stuck upload's last chunk is not stored yet)
   */
  async chunksOf(id: string): Promise<{ chunks: CID[]; size: number; chunkSize: number; private: boolean }> {
    const state = await this.records.load(id)
    this.records.recheck(id)
    const present = await this.records.present(state)
    if (present.chunks.length < state.chunks.length) {
      throw new MissingChunksError(
        `chunk ${present.chunks.length + 1} of ${state.chunks.length} of upload ${id} (${state.chunks[present.chunks.length]}) is not in the store; the upload resumes from byte ${offsetOf(present)}`,
      )
    }
    if (!holdsWholeFile(state)) {
      // never a manifest of part of the file
      throw new MissingChunksError(
        isComplete(state)
          ? `the last ${state.partLength} bytes of upload ${id} are not stored as a chunk yet`
          : `upload ${id} is not complete; it resumes from byte ${offsetOf(state)}`,
      )
    }
    return {
      chunks: state.chunks.map((c) => CID.parse(c)),
      size: offsetOf(state),
      chunkSize: state.chunkSize,
      private: state.private === true,
    }
  }

  override async write(readable: Readable, id: string, offset: number): Promise<number> {
    return await this.track(this.writeUpload(readable, id, offset))
  }

  /**
   * Resolves once no write, repair or removal is in progress: the origin stops its server
   * first (which ends every upload's connection, and so its write, keeping what it stored),
   * then waits here before it closes the chunk store the writes still pin and save into.
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
    const state = await this.records.loadPresent(id)
    // The Upload-Offset was checked against getUpload() by the PATCH handler under its lock.
    if (offset !== offsetOf(state)) throw ERRORS.INVALID_OFFSET
    this.writing.add(id)
    try {
      const { store, records, writers, checkSpace } = this
      const saved = await appendBody({ store, records, writers, checkSpace }, state, readable, {
        window: this.init.window,
      })
      return offsetOf(saved)
    } finally {
      this.writing.delete(id)
    }
  }

  override async remove(id: string): Promise<void> {
    await this.track(this.removeUpload(id))
  }

  private async removeUpload(id: string): Promise<void> {
    // as on disk: an upload that cannot be resumed can still be terminated
    const state = await this.records.read(id).catch(() => undefined)
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
    await this.records.forget(id)
  }

  /** Ids of uploads whose every byte has arrived. */
  async completeUploads(): Promise<string[]> {
    const out: string[] = []
    for (const id of await this.records.ids()) {
      const state = await this.records.loadPresent(id).catch(() => undefined)
      if (state !== undefined && isComplete(state)) out.push(id)
    }
    return out
  }

  /**
   * Stores the last chunk of upload `id` if an origin before 6914649 left it stuck (see
   * `stuck-tails.ts`), or drops those bytes if they are gone; publishing runs it first, so
   * each retry of publishing retries it. Does nothing while a PATCH writes the upload.
   * @throws what storing the chunk threw (a full disk): the upload stays as it was
   */
  async finishStuckTail(id: string): Promise<void> {
    if (this.writing.has(id)) return
    const state = await this.records.loadPresent(id)
    if (!isStuckTail(state)) return
    await this.track(
      repairStuckTail({ store: this.store, records: this.records, writers: this.writers }, state),
    )
  }

  override async deleteExpired(): Promise<number> {
    if (this.init.expiryMs <= 0) return 0
    let removed = 0
    for (const id of await this.records.ids()) {
      if (this.writing.has(id)) continue
      const stored = await this.records.read(id).catch(() => undefined)
      const since = stored === undefined ? undefined : lastActivity(stored)
      if (since === undefined || Date.parse(since) + this.init.expiryMs > Date.now()) continue
      // a complete upload waits to be published; one that cannot be resumed expires too
      const state = await this.records
        .loadPresent(id)
        .catch((err: unknown) => (err instanceof UploadNotResumableError ? null : undefined))
      if (state === undefined || (state !== null && isComplete(state))) continue
      await this.remove(id).catch(() => {})
      removed++
    }
    return removed
  }

  override getExpiration(): number {
    return this.init.expiryMs
  }
}
