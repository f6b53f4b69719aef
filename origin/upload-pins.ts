/**
 * The pins that keep an unfinished upload's chunks in the store: one per checkpoint, keyed
 * `upload:<id>:<index of its first chunk>`, so a long upload writes each CID a few times,
 * not a growing list at each checkpoint. Removing an upload drops them; publishing hands
 * its chunks over to the version's pin first.
 */
import { CID } from 'multiformats/cid'
import type { ChunkStore } from '../node/store/index.ts'

/** Pin keys of an upload's chunks start with this. */
const UPLOAD_PIN_PREFIX = 'upload:'

const prefixOf = (id: string): string => `${UPLOAD_PIN_PREFIX}${id}:`

/**
 * Pins `chunks` (all of upload `id`'s, in order) from index `from` on. An upload's pins are
 * keyed by the index of their first chunk and merged like a binary counter: a pin no longer
 * than the chunks after it joins them. So each checkpoint writes about one pin, an upload
 * keeps O(log n) pins, and each CID is written O(log n) times, not once per checkpoint.
 * Pins past the new one (chunks a state no longer lists) go.
 */
export async function pinUploadChunks(
  store: ChunkStore,
  id: string,
  chunks: readonly string[],
  from: number,
): Promise<void> {
  const end = chunks.length
  if (end <= from) return
  const prefix = prefixOf(id)
  const keys = store
    .pins()
    .filter((k) => k.startsWith(prefix))
    .map((k) => Number(k.slice(prefix.length)))
    .filter((k) => Number.isSafeInteger(k) && k >= 0)
    .sort((a, b) => a - b)
  const below = keys.filter((k) => k < from)
  // no pin below: the state predates upload pins, so pin it all
  let start = below.length === 0 ? 0 : from
  while (below.length > 0 && start - below[below.length - 1] <= end - start) start = below.pop()!
  await store.pin(
    prefix + start,
    chunks.slice(start).map((c) => CID.parse(c)),
  )
  // only once the new pin holds them
  for (const k of keys) if (k > start) await store.unpin(prefix + k)
}

/** Drops every pin of upload `id`. */
export async function unpinUpload(store: ChunkStore, id: string): Promise<void> {
  const prefix = prefixOf(id)
  for (const key of store.pins()) if (key.startsWith(prefix)) await store.unpin(key)
}
