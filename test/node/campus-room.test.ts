/**
 * A campus node's disk over a school year: lessons it no longer runs (unpinned) make room
 * for new ones, least recently used first, at its quota and at its disk's free-space floor;
 * what it must keep (pinned) is never evicted, and a download that cannot get room stops
 * with a message saying which limit and what to change. Real nodes with on-disk stores.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../node/content/index.ts'
import type { DandelionNode } from '../../node/index.ts'
import { addContent, Harness, originKey, randomContent } from './utils/harness.ts'

const MiB = 1024 * 1024
const h = new Harness()
afterEach(async () => await h.teardown())

async function held(node: DandelionNode, m: Manifest): Promise<number> {
  return (await Promise.all(m.chunks.map(async (c) => await node.store.has(c)))).filter(Boolean).length
}

/** A seeder holding three 3 MiB lessons. */
async function seederWithLessons(): Promise<{ seeder: DandelionNode; lessons: Manifest[] }> {
  const key = await originKey()
  const seeder = await h.spawn()
  const lessons: Manifest[] = []
  for (const name of ['week1', 'week2', 'week3']) {
    const m = await addContent(seeder.store, randomContent(3 * MiB), key, { name })
    await seeder.seed(m)
    lessons.push(m)
  }
  return { seeder, lessons }
}

describe("a campus node's room for lessons", () => {
  it('at its quota: evicts the lesson it no longer runs, never the pinned one', async () => {
    const { seeder, lessons } = await seederWithLessons()
    const [week1, week2, week3] = lessons
    const node = await h.spawn({ role: 'campus', dataDir: await h.tempDir(), quotaBytes: 7 * MiB })
    await h.connect(node, seeder)
    await node.fetch(week1.cid)
    await node.pin(week1.cid) // what a release keeps placed
    await node.fetch(week2.cid) // done, unpinned: a version no release needs any more
    // week3 needs the room week2 holds
    await node.fetch(week3.cid)
    expect(await held(node, week3)).toBe(week3.chunks.length)
    expect(await held(node, week1)).toBe(week1.chunks.length)
    expect(await held(node, week2)).toBe(0)
    // nothing more to evict: week2 again does not fit beside the two pinned
    await node.pin(week3.cid)
    const refused = await node.fetch(week2.cid).catch((e: Error) => e)
    expect(refused).toMatchObject({ name: 'StoreWriteError' })
    expect((refused as Error).message).toMatch(/quota of 7340032 bytes.*raise --quota-bytes/)
  })

  it("at its disk's free-space floor: evicts as at a quota, and says which limit stopped it", async () => {
    const { seeder, lessons } = await seederWithLessons()
    const [week1, week2, week3] = lessons
    // a disk of 10 MiB that only this store fills, 3 MiB kept free: room for 7 MiB of chunks
    let node: DandelionNode | undefined
    const disk = 10 * MiB
    node = await h.spawn({
      role: 'campus',
      dataDir: await h.tempDir(),
      minFreeDiskBytes: 3 * MiB,
      freeDiskBytes: () => disk - (node?.store.usage().bytes ?? 0),
    })
    await h.connect(node, seeder)
    await node.fetch(week1.cid)
    await node.pin(week1.cid)
    await node.fetch(week2.cid)
    await node.fetch(week3.cid)
    expect(await held(node, week3)).toBe(week3.chunks.length)
    expect(await held(node, week1)).toBe(week1.chunks.length)
    expect(await held(node, week2)).toBe(0)
    expect(node.status().store.limitBytes).toBeLessThan(Number.POSITIVE_INFINITY)

    await node.pin(week3.cid)
    const refused = await node.fetch(week2.cid).catch((e: Error) => e)
    expect(refused).toMatchObject({ name: 'StoreWriteError' })
    expect((refused as Error).message).toMatch(/keeps 3145728 bytes free/)
    expect((refused as Error).message).toMatch(/--min-free-disk-bytes/)
    // what it holds stays whole and served
    expect(await held(node, week1)).toBe(week1.chunks.length)
    expect(await held(node, week3)).toBe(week3.chunks.length)
  })
})
