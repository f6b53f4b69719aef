/**
 * A version removed from the origin leaves its seeder's swarm before its chunks go, while the
 * next version, which shares most of its chunks, is still replicated whole from the seeder.
 * A real origin with its seeder and a real campus node on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Harness, randomContent, readAll, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { startOrigin, type TestOrigin } from '../utils/origin.ts'

describe('a version removed from the origin', () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
  })

  it('is no longer seeded, and the version sharing its chunks still replicates whole', async () => {
    o = await startOrigin(h)
    const v1bytes = randomContent(8 * TEST_CHUNK_SIZE)
    const v2bytes = new Uint8Array(v1bytes)
    v2bytes.set(randomContent(TEST_CHUNK_SIZE), 7 * TEST_CHUNK_SIZE)
    const v1 = await o.publish(v1bytes)
    const v2 = await o.publish(v2bytes)
    const seeded = (): string[] => o!.seeder.node.status().swarms.map((s) => s.manifestCid)
    // the seeder takes up each version as it is published
    await until(() => seeded().length === 2, 10_000)
    expect(seeded().sort()).toEqual([v1.manifestCid, v2.manifestCid].sort())

    const removed = await o.origin.removeVersion('lesson', 1)
    expect(removed).toMatchObject({ chunksDeleted: 1, chunksKept: 7 })
    expect(seeded()).toEqual([v2.manifestCid])

    const node = await h.spawn({ originUrl: o.origin.url, trustedOrigins: [o.origin.publicKey] })
    await h.connect(node, o.seeder.node)
    const manifest = await node.fetch(v2.manifestCid)
    expect(Buffer.from(await readAll(node, manifest)).equals(Buffer.from(v2bytes))).toBe(true)
    // all of it from the seeder, none from the HTTP fallback
    expect(node.status().totals.bytesFromOrigin).toBe(0)
    // and v1 cannot be had any more: its manifest is gone from the origin
    await expect(node.fetch(v1.manifestCid, { signal: AbortSignal.timeout(1_500) })).rejects.toThrow()
  })
})
