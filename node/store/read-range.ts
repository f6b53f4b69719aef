/** Reads a byte range of a file described by a manifest out of a chunk store. */
import type { Manifest } from '../content/manifest.ts'
import type { AbortOptions, ChunkStore } from './index.ts'

/**
 * Yields the bytes `start..end` (inclusive) of the manifest's file, one chunk at a
 * time, so memory stays at one chunk whatever the range.
 */
export async function* readRange(
  store: ChunkStore,
  manifest: Pick<Manifest, 'chunks' | 'chunkSize' | 'size'>,
  start: number,
  end: number,
  options: AbortOptions = {},
): AsyncGenerator<Uint8Array> {
  const { chunkSize } = manifest
  for (let i = Math.floor(start / chunkSize); i <= Math.floor(end / chunkSize); i++) {
    options.signal?.throwIfAborted()
    const bytes = await store.get(manifest.chunks[i], options)
    const chunkStart = i * chunkSize
    const from = Math.max(start - chunkStart, 0)
    const to = Math.min(end - chunkStart + 1, bytes.byteLength)
    yield from === 0 && to === bytes.byteLength ? bytes : bytes.subarray(from, to)
  }
}
