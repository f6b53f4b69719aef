/**
 * Whether a range read can ever be answered whole within the store's quota. Chunks being
 * read are never evicted, so a range whose chunks together take more than the whole quota
 * can never be held at once: fetching it would end in a truncated body, after evicting
 * everything else. But a range every chunk of which is held already needs no room at all:
 * until session 16 it was refused with 507 too, so a device whose quota is smaller than a
 * chunk, or a node whose quota was lowered below the content pinned on it, could not play
 * content it held in full.
 */
import type { Manifest } from '../content/index.ts'
import type { ChunkStore } from '../store/index.ts'

/**
 * Why bytes `start`–`end` of `manifest` cannot be read within `store`'s quota, or
 * `undefined` when they can: when they fit in the quota beside what is pinned, or when
 * every chunk of them is held (nothing to store).
 *
 * Pinned content never leaves, so a range fits only in the room the pins leave. Before,
 * only the whole quota was compared: on a lamp whose quota the tracker's placements had
 * mostly filled, a lesson not placed there answered 200 and its body stopped after the
 * few chunks that fitted (the store then refused the next one, nothing being evictable).
 */
export async function rangeBeyondQuota(
  store: Pick<ChunkStore, 'has' | 'usage' | 'isPinned'>,
  manifest: Pick<Manifest, 'cid' | 'chunks' | 'chunkSize' | 'size' | 'bytes'>,
  start: number,
  end: number,
): Promise<string | undefined> {
  const { quotaBytes, pinnedBytes } = store.usage()
  const firstIndex = Math.floor(start / manifest.chunkSize)
  const lastIndex = Math.floor(end / manifest.chunkSize)
  const first = firstIndex * manifest.chunkSize
  const last = Math.min((lastIndex + 1) * manifest.chunkSize, manifest.size)
  const span = last - first + manifest.bytes.byteLength
  if (span + pinnedBytes <= quotaBytes) return undefined
  // rare (a range larger than the room left beside the pins): one index lookup per chunk is cheap here
  let missingBytes = 0
  let pinnedInRange = 0
  for (let i = firstIndex; i <= lastIndex; i++) {
    const length = Math.min((i + 1) * manifest.chunkSize, manifest.size) - i * manifest.chunkSize
    if (!(await store.has(manifest.chunks[i]))) missingBytes += length
    else if (store.isPinned(manifest.chunks[i])) pinnedInRange += length
  }
  if (missingBytes === 0) return undefined
  // the range's own pinned chunks are in its span already
  const pinnedElsewhere = Math.max(0, pinnedBytes - pinnedInRange)
  if (span + pinnedElsewhere <= quotaBytes) return undefined
  const what = `bytes ${start}-${end} of ${manifest.cid.toString()} span ${last - first} bytes, ${missingBytes} of them in chunks this node does not hold`
  if (span > quotaBytes) return `${what}: more than this node's whole quota of ${quotaBytes} bytes`
  return (
    `${what}: more than this node's quota of ${quotaBytes} bytes leaves beside the ${pinnedElsewhere} bytes ` +
    'of pinned content it keeps; unpin content, or raise --quota-bytes'
  )
}
