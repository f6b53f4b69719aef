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
 * `undefined` when they can: when they span no more than the quota, or when every chunk
 * of them is held (nothing to store).
 */
export async function rangeBeyondQuota(
  store: Pick<ChunkStore, 'has' | 'usage'>,
  manifest: Pick<Manifest, 'cid' | 'chunks' | 'chunkSize' | 'size' | 'bytes'>,
  start: number,
  end: number,
): Promise<string | undefined> {
  const { quotaBytes } = store.usage()
  const firstIndex = Math.floor(start / manifest.chunkSize)
  const lastIndex = Math.floor(end / manifest.chunkSize)
  const first = firstIndex * manifest.chunkSize
  const last = Math.min((lastIndex + 1) * manifest.chunkSize, manifest.size)
  if (last - first + manifest.bytes.byteLength <= quotaBytes) return undefined
  // rare (a range larger than the quota): one index lookup per chunk is cheap here
  let missingBytes = 0
  for (let i = firstIndex; i <= lastIndex; i++) {
    if (!(await store.has(manifest.chunks[i])))
      missingBytes += Math.min((i + 1) * manifest.chunkSize, manifest.size) - i * manifest.chunkSize
  }
  if (missingBytes === 0) return undefined
  return (
    `bytes ${start}-${end} of ${manifest.cid.toString()} span ${last - first} bytes, ${missingBytes} of them ` +
    `in chunks this node does not hold: more than this node's whole quota of ${quotaBytes} bytes`
  )
}
