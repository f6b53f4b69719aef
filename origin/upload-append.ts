/**
 * Appending a PATCH body to an upload: its bytes go after the upload's tail (the bytes of its
 * unfinished chunk, kept in its tail file), are cut into chunks and stored as they come, and
 * what was stored is recorded every 32 MiB and at the end, complete chunks and new tail alike,
 * whatever ended the body: the client resumes from what was kept.
 */
import type { Readable } from 'node:stream'
import { logger } from '@libp2p/logger'
import type { ChunkStore } from '../node/store/index.ts'
import { ChunkWriter } from './chunk-writer.ts'
import { DISK_CHECK_INTERVAL_BYTES } from './constants.ts'
import { InsufficientStorageError, isDiskFullError } from './errors.ts'
import type { UploadRecords } from './upload-records.ts'
import { now, offsetOf, type UploadState } from './upload-state.ts'

const log = logger('dandelion:origin:upload-append')

/** Bytes stored between two checkpoints of a long PATCH. */
const CHECKPOINT_BYTES = 32 * 1024 * 1024

/** What {@link appendBody} uses. */
export interface AppendBodyComponents {
  store: ChunkStore
  records: UploadRecords
  /** Writes in progress: the append's is in it until its chunks are pinned. */
  writers: Set<ChunkWriter>
  /**
   * Throws (an `InsufficientStorageError`) when the disk is too full to go on; called every
   * `DISK_CHECK_INTERVAL_BYTES` of the body, which then stops there with what it stored kept.
   * @default no check
   */
  checkSpace?(): Promise<void>
}

/** Options of {@link appendBody}. */
export interface AppendBodyOptions {
  /** Chunks in flight. */
  window: number
}

/**
 * Appends `readable` to the upload whose state, as far as the store has its chunks, is
 * `state`; at most its missing bytes are taken. Returns the state saved.
 * @throws what ended the body (the free-space check, the client gone), once what arrived
 *   is saved; `InsufficientStorageError` for a full disk
 */
export async function appendBody(
  components: AppendBodyComponents,
  state: UploadState,
  readable: Readable,
  options: AppendBodyOptions,
): Promise<UploadState> {
  const { store, records, writers, checkSpace } = components
  const { id, size } = state
  const offset = offsetOf(state)
  const tail =
    state.partLength > 0
      ? (await records.readTail(id, state.chunks.length)).subarray(0, state.partLength)
      : undefined
  const writer = new ChunkWriter(store, { chunkSize: state.chunkSize, window: options.window }, tail)
  writers.add(writer)
  try {
    let received = 0
    let checkpointAt = CHECKPOINT_BYTES
    let spaceCheckAt = DISK_CHECK_INTERVAL_BYTES
    let pinned = state.chunks.length
    let failure: unknown
    try {
      for await (const piece of readable) {
        const bytes = piece as Buffer
        const room = size === undefined ? bytes.byteLength : size - offset - received
        await writer.write(bytes.byteLength > room ? bytes.subarray(0, room) : bytes)
        received += Math.min(bytes.byteLength, room)
        if (received >= checkpointAt) {
          // a long PATCH keeps its progress: record the chunks stored so far
          checkpointAt += CHECKPOINT_BYTES
          const chunks = [...state.chunks, ...writer.cids.map(String)]
          await records.checkpoint({ ...state, chunks, partLength: 0, activity_date: now() }, pinned)
          pinned = chunks.length
        }
        if (received >= spaceCheckAt && checkSpace !== undefined) {
          // the free-space floor holds within one PATCH too: a whole 3 GB file is often
          // a single PATCH, and a disk filled to the last byte fails the index and catalog
          spaceCheckAt = received + DISK_CHECK_INTERVAL_BYTES
          await checkSpace()
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
      const complete = size !== undefined && offset + received === size
      if (complete) await writer.finish()
      else await writer.drain()
      const next: UploadState = {
        ...state,
        chunks: [...state.chunks, ...writer.cids.map(String)],
        partLength: complete ? 0 : writer.tailLength,
        activity_date: received > 0 ? now() : state.activity_date,
      }
      if (next.partLength > 0) await records.writeTail(id, next.chunks.length, writer.tail())
      const saved = await records.checkpoint(next, pinned)
      await records.removeParts(id, saved.partLength > 0 ? saved.chunks.length : -1)
      if (failure !== undefined) throw failure
      return saved
    } catch (err) {
      throw mapDiskError(err)
    }
  } finally {
    writers.delete(writer)
  }
}

function mapDiskError(err: unknown): unknown {
  if (isDiskFullError(err)) {
    log.error('disk full while writing an upload')
    return new InsufficientStorageError(
      'the origin ran out of disk space; resume the upload once space is freed',
    )
  }
  return err
}
