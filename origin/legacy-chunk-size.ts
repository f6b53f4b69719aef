/**
 * The chunk size of an upload whose state an origin wrote before states recorded it. Such a
 * state counts whole chunks and tail bytes, not their size, and reading it in the size the
 * origin runs with now (restarted with another `--chunk-size`) gave an offset past what the
 * client sent: the client skipped the bytes in between and a wrong manifest could follow.
 *
 * The size is told from the store instead: every chunk of an upload but a complete one's
 * last is whole, so its first chunk's length is the chunk size. Where no chunk is whole
 * yet, nothing depends on the size, so it is chosen now. A state no chunk size makes add
 * up is refused, and its client starts over (`UploadNotResumableError`).
 */
import { logger } from '@libp2p/logger'
import { CID } from 'multiformats/cid'
import { MAX_CHUNK_SIZE_BYTES, MIN_CHUNK_SIZE_BYTES } from '../node/constants.ts'
import type { ChunkStore } from '../node/store/index.ts'
import { UploadNotResumableError } from './errors.ts'
import { holdsWholeFile, type StoredUploadState, type UploadState } from './upload-state.ts'

const log = logger('dandelion:origin:legacy-chunk-size')

/**
 * The chunk size `state` was cut in (it records none), `current` (the origin's) where any
 * size would do.
 * @throws UploadNotResumableError when no chunk size explains the state
 */
export async function inferChunkSize(
  store: ChunkStore,
  state: StoredUploadState,
  current: number,
): Promise<number> {
  const { chunks, partLength, size } = state
  let chunkSize: number
  if (chunks.length === 0) {
    // only tail bytes: the next chunk is cut in the size chosen here, as long as they fit
    chunkSize = fitting(partLength, current)
  } else {
    const first = await lengthOf(store, chunks[0])
    // lost: the upload resumes from byte 0 (its state is read only as far as the store has
    // its chunks), so none of it was cut in any size
    if (first === undefined) return current
    chunkSize =
      chunks.length === 1 && partLength === 0 && first === size
        ? // the whole file in one chunk: any size from its length up cuts it so
          fitting(first - 1, current)
        : first
  }
  const reason = contradiction({ ...state, chunkSize })
  if (reason !== undefined) throw new UploadNotResumableError(state.id, reason)
  log('upload %s: its state predates recorded chunk sizes; read in %d-byte chunks', state.id, chunkSize)
  return chunkSize
}

/** `current` if `length` bytes fit in one chunk of it (a tail is shorter than a chunk), else the smallest size they fit in. */
function fitting(length: number, current: number): number {
  if (length < current) return current
  let size = MIN_CHUNK_SIZE_BYTES
  while (size <= length) size *= 2
  return size
}

/** Why `state` cannot have been cut in `state.chunkSize`, if it cannot. */
function contradiction(state: UploadState): string | undefined {
  const { chunkSize, partLength, size } = state
  const valid =
    chunkSize >= MIN_CHUNK_SIZE_BYTES &&
    chunkSize <= MAX_CHUNK_SIZE_BYTES &&
    (chunkSize & (chunkSize - 1)) === 0
  if (!valid) return `it would be cut in ${chunkSize}-byte chunks, not a chunk size`
  if (!Number.isSafeInteger(partLength) || partLength < 0 || partLength >= chunkSize)
    return `its ${partLength}-byte tail does not fit in one ${chunkSize}-byte chunk`
  if (size === undefined) return undefined
  const cut = state.chunks.length * chunkSize
  if (partLength === 0 && cut >= size ? !holdsWholeFile(state) : cut + partLength > size)
    return `${state.chunks.length} chunks of ${chunkSize} bytes and a ${partLength}-byte tail are not ${size} bytes`
  return undefined
}

/** Bytes of chunk `cid`, undefined when the store does not have it (any more). */
async function lengthOf(store: ChunkStore, cid: string): Promise<number | undefined> {
  const parsed = CID.parse(cid)
  if (!(await store.has(parsed))) return undefined
  try {
    return (await store.get(parsed)).byteLength
  } catch (err) {
    // gone meanwhile, or dropped as corrupt: the state is read before it then
    if ((err as { code?: string }).code === 'ERR_CHUNK_NOT_FOUND') return undefined
    throw err
  }
}
