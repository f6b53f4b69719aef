/**
 * What {@link FsChunkStore.start} reads back from its index, and the repairs it makes on
 * the way: the store's crash safety is settled here.
 *
 * A put records its intent (`w!`), writes the bytes, then replaces the intent with the
 * chunk's entry in one batch; only `c!` entries are visible. (Chunks written in place by a
 * bulk writer, `FsChunkStore.addInPlace`, get their entry after the write and no intent.)
 * At start, `c!` entries that point past the end of their segment are dropped, and every
 * leftover intent is hashed again: indexed if the bytes verify (a crash between write and
 * index), forgotten if not (a crash mid-write). Chunk files of the store's first layout
 * are moved into segments.
 */
import { readdir, readFile, rm, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import type { Level } from 'level'
import { CID } from 'multiformats/cid'
import { blake3, equalBytes } from '../content/cid.ts'
import { CHUNK_PREFIX, decodeLocation, INTENT_PREFIX, PIN_PREFIX } from './index-keys.ts'
import type { Location, Segments } from './segments.ts'

/** What {@link recoverIndex} reads and repairs, and how it hands the store what it finds. */
export interface RecoveryComponents {
  /** The store's directory (the first layout's `chunks/` is in it). */
  dir: string
  /** The index, open. */
  db: Level<string, string>
  /** The segments, loaded. */
  segments: Segments
  /** Records a chunk as stored at `l`, whose bytes {@link recoverIndex} counted live already. */
  place(key: string, l: Location): void
  /** Whether a chunk is indexed already. */
  has(key: string): boolean
  /** Writes a chunk to a segment and indexes it, as a put does. */
  write(key: string, bytes: Uint8Array): Promise<void>
  /** Records a pin read back. */
  pin(key: string, cids: Set<string>): void
}

const log = logger('dandelion:store')

/** Loads the chunks and pins the index holds, repairing what a crash left (see the module comment). */
export async function recoverIndex(c: RecoveryComponents): Promise<void> {
  await loadChunks(c)
  await recoverIntents(c)
  await migrateChunkFiles(c)
  for await (const [k, v] of c.db.iterator({ gt: PIN_PREFIX, lt: `${PIN_PREFIX}~` })) {
    c.pin(k.slice(PIN_PREFIX.length), new Set(JSON.parse(v) as string[]))
  }
}

/** The visible chunks, less those whose bytes are not in their segment. */
async function loadChunks(c: RecoveryComponents): Promise<void> {
  const stale: string[] = []
  for await (const [k, v] of c.db.iterator({ gt: CHUNK_PREFIX, lt: `${CHUNK_PREFIX}~` })) {
    const l = decodeLocation(v)
    if (l === undefined || !c.segments.contains(l)) stale.push(k)
    else {
      c.segments.addLive(l)
      c.place(k.slice(CHUNK_PREFIX.length), l)
    }
  }
  // synced: a later segment may reuse a missing one's id, and these entries must not see it
  if (stale.length > 0)
    await c.db.batch(
      stale.map((key) => ({ type: 'del' as const, key })),
      { sync: true },
    )
}

/** Writes left half-done by a crash: keep the ones whose bytes verify. */
async function recoverIntents(c: RecoveryComponents): Promise<void> {
  const { db, segments } = c
  for await (const [k, v] of db.iterator({ gt: INTENT_PREFIX, lt: `${INTENT_PREFIX}~` })) {
    const key = k.slice(INTENT_PREFIX.length)
    const l = decodeLocation(v)
    let ok = false
    if (l !== undefined && !c.has(key) && segments.contains(l)) {
      const bytes = await segments.read(l)
      ok = bytes !== undefined && verifies(key, bytes)
    }
    if (ok)
      await db.batch([
        { type: 'del', key: k },
        { type: 'put', key: CHUNK_PREFIX + key, value: v },
      ])
    else await db.del(k)
    if (ok && l !== undefined) {
      segments.addLive(l)
      c.place(key, l)
    }
  }
}

/**
 * Chunk files of this store's first layout (`chunks/<last two chars>/<cid>`, sizes in
 * the index): each is verified, written to a segment and indexed, then deleted, so a
 * crash midway loses nothing and the next start carries on.
 */
async function migrateChunkFiles(c: RecoveryComponents): Promise<void> {
  const root = join(c.dir, 'chunks')
  const subs = await readdir(root).catch(() => undefined)
  if (subs === undefined) return
  let moved = 0
  for (const sub of subs) {
    for (const name of await readdir(join(root, sub))) {
      const path = join(root, sub, name)
      const bytes = await readFile(path)
      if (!c.has(name) && verifies(name, bytes)) {
        await c.write(name, bytes)
        moved++
      }
      await unlink(path)
    }
  }
  await rm(root, { recursive: true, force: true })
  log('moved %d chunk files into segments', moved)
}

function verifies(key: string, bytes: Uint8Array): boolean {
  try {
    return equalBytes(blake3(bytes), CID.parse(key).multihash.digest)
  } catch {
    return false
  }
}
