/**
 * A campus node serving a class: many players, each blocked on a different chunk that one
 * peer holds. Requests for blocked readers jump the per-peer window, and used to go out
 * however many there were: past 64 queued at that peer it counted the node as flooding it,
 * closed the stream and scored it down, and the readers hung. Requests to one peer now stop
 * at what a peer accepts; the rest go out as answers come back.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_QUEUED_REQUESTS_PER_PEER } from '../../../node/node-constants.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE } from '../utils/harness.ts'

describe('many readers blocked on one peer', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('all get their bytes, and the peer is never flooded', async () => {
    const key = await originKey()
    const readers = MAX_QUEUED_REQUESTS_PER_PEER + 16
    const bytes = randomContent(readers * TEST_CHUNK_SIZE)
    const seeder = await h.spawn()
    const lesson = await addContent(seeder.store, bytes, key)
    await seeder.seed(lesson)
    const node = await h.spawn()
    await h.connect(node, seeder)
    await node.manifest(lesson.cid)

    // every reader waits on a chunk of its own, all at once
    const signal = AbortSignal.timeout(20_000)
    const reads = Array.from({ length: readers }, async (_, i) => {
      const start = i * TEST_CHUNK_SIZE
      const out: Uint8Array[] = []
      for await (const piece of node.read(lesson.cid, start, start + 99, { signal })) out.push(piece)
      return Buffer.concat(out)
    })
    const got = await Promise.all(reads)
    for (let i = 0; i < readers; i++) {
      const start = i * TEST_CHUNK_SIZE
      expect(got[i].equals(Buffer.from(bytes.subarray(start, start + 100)))).toBe(true)
    }
    expect(seeder.status().bannedPeers).toBe(0)
    expect(node.status().totals.bytesFromPeers).toBeGreaterThan(0)
  })
})
