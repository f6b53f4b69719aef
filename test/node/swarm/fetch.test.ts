import { afterEach, describe, expect, it } from 'vitest'
import type { FsChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, readAll, TEST_CHUNK_SIZE } from '../utils/harness.ts'

describe('fetch between two nodes', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('replicates verified chunks and the manifest from a seeding peer', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes = randomContent(3 * 1024 * 1024 + 12345)
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)

    const leecher = await h.spawn({ trustedOrigins: [key.publicKey] })
    await h.connect(leecher, seeder)
    const progress: number[] = []
    const got = await leecher.fetch(manifest.cid.toString(), {
      onProgress: (p) => progress.push(p.chunksDone),
    })

    expect(got.cid.equals(manifest.cid)).toBe(true)
    expect(Buffer.from(await readAll(leecher, got)).equals(Buffer.from(bytes))).toBe(true)
    const status = leecher.status()
    expect(status.totals.bytesFromPeers).toBe(bytes.byteLength)
    expect(status.totals.bytesFromOrigin).toBe(0)
    expect(progress.at(-1)).toBe(manifest.chunks.length)
    expect(seeder.status().totals.bytesUploaded).toBe(bytes.byteLength)
  })

  it('writes received chunks to an on-disk store with direct I/O, straight from the receive buffers', async () => {
    const key = await originKey()
    // paced (a chunk every ~30 ms, 1.5 s in all), as chunks arrive over a real link: in one
    // process on a loaded machine an unpaced transfer could end before the store's aligned
    // buffers, made in the background, were ready (CI once saw a third of the bytes direct)
    const seeder = await h.spawn({ limits: { uploadBytesPerSecond: 8 * 1024 * 1024 } })
    const bytes = randomContent(48 * TEST_CHUNK_SIZE)
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    const leecher = await h.spawn({ dataDir: await h.tempDir(), hashWorkers: 1 })
    await h.connect(leecher, seeder)
    await leecher.fetch(manifest.cid.toString())
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
    const store = leecher.store as FsChunkStore
    const written = store.bytesWritten
    // every chunk, plus the manifest's own block
    expect(written.direct + written.buffered - bytes.byteLength).toBeGreaterThan(0)
    expect(written.direct + written.buffered - bytes.byteLength).toBeLessThan(64 * 1024)
    // ext4 and xfs have direct I/O, tmpfs has not (then everything goes through the page cache);
    // the first few chunks may arrive before the store's aligned buffers are made
    if (store.writesDirect) expect(written.direct).toBeGreaterThanOrEqual(bytes.byteLength / 2)
    else expect(written.direct).toBe(0)
  })

  it('refuses a manifest signed by an untrusted origin', async () => {
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, randomContent(300_000), await originKey())
    await seeder.seed(manifest)
    const leecher = await h.spawn({ trustedOrigins: [(await originKey()).publicKey] })
    await h.connect(leecher, seeder)
    await expect(leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(1500) })).rejects.toThrow()
    expect(leecher.status().totals.bytesFromPeers).toBe(0)
  })
})
