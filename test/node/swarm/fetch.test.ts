import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent, readAll } from '../utils/harness.ts'

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
