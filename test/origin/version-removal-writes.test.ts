/**
 * A version removed while a write in progress (a PATCH, a file ingest) has stored one of its
 * chunks and not pinned it yet: that chunk stays, the others the version alone held go.
 * The removal with a real catalog on disk and a real store; the write in progress is the
 * shared set of writers the origin's uploads and ingests register in.
 */
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { createManifest } from '../../node/content/index.ts'
import { MemoryChunkStore } from '../../node/store/index.ts'
import { Catalog } from '../../origin/catalog.ts'
import type { ChunkWriter } from '../../origin/chunk-writer.ts'
import { VersionRemoval } from '../../origin/version-removal.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const CHUNK = 256 * 1024

describe('removing a version during a write', () => {
  it('keeps the chunk a write in progress stored and has not pinned, deletes the rest', async () => {
    const store = new MemoryChunkStore()
    await store.start()
    const catalog = new Catalog(join(await fx.dir(), 'catalog'))
    await catalog.open()
    try {
      const shared = await store.add(new Uint8Array(CHUNK).fill(1))
      const own = await store.add(new Uint8Array(CHUNK).fill(2))
      const m = await createManifest(
        {
          name: 'lesson',
          type: 'video',
          mime: 'video/mp4',
          size: 2 * CHUNK,
          chunkSize: CHUNK,
          chunks: [shared, own],
          createdAt: Date.now(),
        },
        await generateKeyPair('Ed25519'),
      )
      await store.pin(m.cid.toString(), m.chunks)
      await catalog.commit(
        {
          name: 'lesson',
          manifestCid: m.cid.toString(),
          size: m.size,
          type: 'video',
          mime: 'video/mp4',
          createdAt: m.createdAt,
        },
        m.bytes,
      )
      // an upload of other bytes is writing: it stored `shared` and has not pinned it yet
      const writing = { cids: [shared] } as unknown as ChunkWriter
      const removal = new VersionRemoval({
        catalog,
        store,
        writers: new Set([writing]),
        checks: new Set(),
        removed: () => {},
      })
      const done = await removal.remove('lesson', 1)
      expect(done).toMatchObject({ chunksDeleted: 1, chunksKept: 1, bytesFreed: CHUNK })
      expect(await store.has(shared)).toBe(true)
      expect(await store.has(own)).toBe(false)
      expect(store.pins()).toEqual([])
      expect(await catalog.pendingRemovals()).toEqual([])
    } finally {
      await catalog.close()
      await store.stop()
    }
  })
})
