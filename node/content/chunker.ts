/**
 * Cuts a byte stream into fixed-size chunks without holding more than one chunk
 * (plus the source's current buffer) in memory.
 */
import { MAX_CHUNK_SIZE_BYTES, MIN_CHUNK_SIZE_BYTES } from '../constants.ts'
import { InvalidConfigError } from '../errors.ts'

/** Throws unless `size` is a power of two between 256 KiB and 4 MiB. */
export function checkChunkSize(size: number): number {
  if (
    !Number.isInteger(size) ||
    size < MIN_CHUNK_SIZE_BYTES ||
    size > MAX_CHUNK_SIZE_BYTES ||
    (size & (size - 1)) !== 0
  ) {
    throw new InvalidConfigError(
      `chunk size must be a power of two from ${MIN_CHUNK_SIZE_BYTES} to ${MAX_CHUNK_SIZE_BYTES} bytes, got ${size}`,
    )
  }
  return size
}

/**
 * Yields chunks of exactly `chunkSize` bytes, the last one possibly shorter; an empty
 * source yields nothing. Each yielded chunk has a buffer of its own.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  chunkSize: number,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  checkChunkSize(chunkSize)
  let current = new Uint8Array(new ArrayBuffer(chunkSize))
  let filled = 0
  for await (const piece of source) {
    options.signal?.throwIfAborted()
    let offset = 0
    while (offset < piece.byteLength) {
      const n = Math.min(chunkSize - filled, piece.byteLength - offset)
      current.set(piece.subarray(offset, offset + n), filled)
      filled += n
      offset += n
      if (filled === chunkSize) {
        yield current
        current = new Uint8Array(new ArrayBuffer(chunkSize))
        filled = 0
      }
    }
  }
  if (filled > 0) yield current.slice(0, filled)
}

/** Number of chunks a file of `size` bytes is cut into. */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}
