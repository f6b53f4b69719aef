import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

describe('content lifecycle on a node', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('a device evicts unpinned content least recently used first when its quota is full; pins survive', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const [a, b, c] = [
      await addContent(seeder.store, randomContent(1024 * 1024), key, { name: 'a' }),
      await addContent(seeder.store, randomContent(1024 * 1024), key, { name: 'b' }),
      await addContent(seeder.store, randomContent(1024 * 1024), key, { name: 'c' }),
    ]
    for (const m of [a, b, c]) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 2.5 * 1024 * 1024 })
    await h.connect(device, seeder)

    await device.fetch(a.cid)
    await device.pin(a.cid)
    await device.fetch(b.cid)
    await device.fetch(c.cid) // needs room: b (unpinned, least recently used) goes, a is pinned

    const holds = async (m: typeof a): Promise<boolean> =>
      (await Promise.all(m.chunks.map(async (x) => await device.store.has(x)))).every(Boolean)
    expect(await holds(a)).toBe(true)
    expect(await holds(c)).toBe(true)
    expect(await holds(b)).toBe(false)
  })

  it('evict leaves the swarm and deletes the content; unpin makes it evictable', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const m = await addContent(seeder.store, randomContent(512 * 1024), key)
    await seeder.seed(m)
    const node = await h.spawn()
    await h.connect(node, seeder)
    await node.fetch(m.cid)
    await node.pin(m.cid)
    expect(node.store.pins()).toContain(m.cid.toString())
    await node.unpin(m.cid)
    expect(node.store.pins()).not.toContain(m.cid.toString())
    await node.evict(m.cid)
    expect(await node.store.has(m.chunks[0])).toBe(false)
    expect(node.status().swarms).toHaveLength(0)
  })
})
