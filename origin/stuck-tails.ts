/**
 * Repair of the uploads an origin before 6914649 left stuck: the PATCH that brought the last
 * byte failed after it, and that code kept the short last chunk as the tail file instead of
 * storing it, so the upload read complete (offset = size) with that chunk in no manifest:
 * never published, and no byte left for its client to resend.
 *
 * Publishing such an upload stores its last chunk first, so whatever retries publishing
 * retries the repair too: the origin's start, the client's HEAD, the periodic sweep. Where
 * the tail file no longer holds those bytes, they are dropped instead, and the client
 * resends them from the last whole chunk.
 */
import { logger } from '@libp2p/logger'
import type { ChunkStore } from '../node/store/index.ts'
import { ChunkWriter } from './chunk-writer.ts'
import type { UploadRecords } from './upload-records.ts'
import { offsetOf, type UploadState } from './upload-state.ts'

const log = logger('dandelion:origin:stuck-tails')

/** What {@link repairStuckTail} uses. */
export interface StuckTailComponents {
  store: ChunkStore
  records: UploadRecords
  /** Writes in progress: the repair's is added while its chunk is not pinned yet. */
  writers: Set<ChunkWriter>
}

/** Whether every byte of `state` arrived but its short last chunk is still the tail. */
export function isStuckTail(state: UploadState): boolean {
  return (
    state.size !== undefined &&
    state.partLength > 0 &&
    state.partLength < state.chunkSize &&
    state.chunks.length * state.chunkSize + state.partLength === state.size
  )
}

/**
 * Stores the tail of a stuck upload as its last chunk: true once it did; false if the tail
 * file no longer holds those bytes, which are dropped then (the upload resumes before them).
 * @throws what storing the chunk or saving the state threw (a full disk): nothing changed
 *   then, and the next try starts over
 */
export async function repairStuckTail(components: StuckTailComponents, state: UploadState): Promise<boolean> {
  const { records, store, writers } = components
  const k = state.chunks.length
  const tail = await records.readTail(state.id, k).catch((err: NodeJS.ErrnoException) => {
    // gone; anything else (an I/O error) may pass, so it is tried again
    if (err.code === 'ENOENT') return undefined
    throw err
  })
  if (tail === undefined || tail.byteLength < state.partLength) {
    log.error(
      'upload %s: its last %d bytes are gone; it resumes from byte %d',
      state.id,
      state.partLength,
      k * state.chunkSize,
    )
    await records.save({ ...state, partLength: 0 })
    await records.removeParts(state.id, -1)
    return false
  }
  const writer = new ChunkWriter(
    store,
    { chunkSize: state.chunkSize, window: 1 },
    tail.subarray(0, state.partLength),
  )
  writers.add(writer)
  try {
    await writer.finish()
    const chunks = [...state.chunks, ...writer.cids.map(String)]
    // saved with its chunk size, so a later restart with another cannot move it
    const saved = await records.checkpoint({ ...state, chunks, partLength: 0 }, k)
    await records.removeParts(state.id, -1)
    log('upload %s: stored the last chunk an earlier origin left in its tail file', state.id)
    return state.size === offsetOf(saved)
  } finally {
    writers.delete(writer)
  }
}
