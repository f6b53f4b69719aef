import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryChunkStore } from '../../node/store/index.ts'
import { Catalog } from '../../origin/catalog.ts'
import { publish } from '../../origin/ingest.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const chunkSize = 256 * 1024

describe('publish', () => {
  it('refuses, committing and pinning nothing, a file with a chunk missing from the store', async () => {
    const store = new MemoryChunkStore()
    await store.start()
    const catalog = new Catalog(join(await fx.dir(), 'catalog'))
    await catalog.open()
    try {
      const a = await store.add(new Uint8Array(chunkSize).fill(1))
      const gone = await store.add(new Uint8Array(chunkSize).fill(2))
      await store.delete(gone)
      const components = { store, catalog, privateKey: await generateKeyPair('Ed25519') }
      const meta = { name: 'lesson', type: 'video' as const, mime: 'video/mp4' }
      const file = { chunks: [a, gone], size: 2 * chunkSize, chunkSize: chunkSize }

      await expect(publish(components, file, meta, { uploadId: 'u1' })).rejects.toMatchObject({
        name: 'MissingChunksError',
        code: 'ERR_MISSING_CHUNKS',
        message: expect.stringContaining(gone.toString()),
      })
      expect(await catalog.resource('lesson')).toBeUndefined()
      expect(await catalog.byUpload('u1')).toBeUndefined()
      expect(store.pins()).toEqual([])

      // a chunk deleted between the check and the pin is caught too
      const restore = await store.add(new Uint8Array(chunkSize).fill(2))
      expect(restore.equals(gone)).toBe(true)
      const pin = store.pin.bind(store)
      store.pin = async (key, cids, options) => {
        await store.delete(gone)
        return await pin(key, cids, options)
      }
      await expect(publish(components, file, meta, { uploadId: 'u1' })).rejects.toMatchObject({
        name: 'MissingChunksError',
      })
      expect(await catalog.resource('lesson')).toBeUndefined()
      expect(store.pins()).toEqual([])
    } finally {
      await catalog.close()
    }
  })
})
