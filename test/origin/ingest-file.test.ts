import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { chunkCid, HashPool } from '../../node/content/index.ts'
import { type ChunkStore, FsChunkStore, MemoryChunkStore } from '../../node/store/index.ts'
import { Catalog } from '../../origin/catalog.ts'
import { ChecksumMismatchError } from '../../origin/errors.ts'
import { ingestFile } from '../../origin/ingest.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const chunkSize = 256 * 1024

// a store that writes chunks in place (the origin's) and one that does not (the chunk
// writer then stores what the hash pool read, with the digests it computed)
const stores: Array<[string, (dir: string) => ChunkStore]> = [
  [
    'on disk, chunks written in place by the hash workers',
    (dir) => new FsChunkStore({ dir, directIo: true }),
  ],
  ['in memory', () => new MemoryChunkStore()],
]

describe.each(stores)('ingestFile into a store %s', (_name, makeStore) => {
  it('publishes a file in runs of chunks, the last one short, and refuses a wrong checksum', async () => {
    const dir = await fx.dir()
    // seven and a half chunks: runs of two leave a run of one and a half at the end
    const file = await fx.file(7.5 * chunkSize)
    const store = makeStore(join(dir, 'store'))
    await store.start()
    const catalog = new Catalog(join(dir, 'catalog'))
    await catalog.open()
    const pool = new HashPool({ size: 2 })
    pool.start()
    try {
      const components = { store, catalog, privateKey: await generateKeyPair('Ed25519'), hashPool: pool }
      const options = { chunkSize, runChunks: 2, window: 4 }
      await expect(
        ingestFile(
          components,
          file.path,
          { name: 'lesson', type: 'video', mime: 'video/mp4', sha256: '00'.repeat(32) },
          options,
        ),
      ).rejects.toThrow(ChecksumMismatchError)
      expect(await catalog.resource('lesson')).toBeUndefined()
      expect(store.usage().chunks).toBe(0) // nothing another version pins: removed

      const sha256 = createHash('sha256').update(file.bytes).digest('hex')
      const { version, manifest } = await ingestFile(
        components,
        file.path,
        { name: 'lesson', type: 'video', mime: 'video/mp4', sha256 },
        options,
      )
      expect(version.version).toBe(1)
      const pieces = Array.from({ length: 8 }, (_, i) =>
        file.bytes.subarray(i * chunkSize, (i + 1) * chunkSize),
      )
      expect(manifest.chunks.map(String)).toEqual(pieces.map((p) => chunkCid(p).toString()))
      const back = Buffer.concat(await Promise.all(manifest.chunks.map(async (c) => await store.get(c))))
      expect(back.equals(file.bytes)).toBe(true)
    } finally {
      await pool.stop()
      await catalog.close()
      await store.stop()
    }
  })
})
