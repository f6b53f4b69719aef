import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode, SwarmStatus } from '../../../node/index.ts'
import { addContent, Harness, originKey, randomContent, readAll, TEST_CHUNK_SIZE } from '../utils/harness.ts'

const MiB = 1024 * 1024

/** How many of a manifest's chunks the node's store holds. */
async function held(node: DandelionNode, m: Manifest): Promise<number> {
  return (await Promise.all(m.chunks.map(async (c) => await node.store.has(c)))).filter(Boolean).length
}

/** Bytes `start`–`end` (inclusive) through the node's reader, as playback reads them. */
async function readBytes(node: DandelionNode, m: Manifest, start: number, end: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const p of node.read(m.cid, start, end, { signal: AbortSignal.timeout(10_000) })) parts.push(p)
  return Buffer.concat(parts)
}

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
    // evicted whole: the device no longer offers b to its peers
    expect(device.status().swarms.map((s) => s.manifestCid)).not.toContain(b.cid.toString())
  })

  it('a device that cannot make room fails the fetch clearly, keeps what it stored, and finishes once room is freed', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const kept = await addContent(seeder.store, randomContent(2 * MiB), key, { name: 'kept' })
    const next = await addContent(seeder.store, randomContent(2 * MiB), key, { name: 'next' })
    for (const m of [kept, next]) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 3 * MiB })
    await h.connect(device, seeder)
    await device.fetch(kept.cid)
    await device.pin(kept.cid)

    // a third of the quota is left: the pinned lesson may not go, so the store refuses
    const err = await device.fetch(next.cid).catch((e: Error) => e)
    expect(err).toMatchObject({ name: 'StoreWriteError', code: 'ERR_STORE_WRITE' })
    expect((err as Error).cause).toMatchObject({ name: 'QuotaExceededError' })
    const status = (): SwarmStatus =>
      device.status().swarms.find((s) => s.manifestCid === next.cid.toString())!
    expect(status()).toMatchObject({ complete: false, error: (err as Error).message })
    // let what was already under way settle (serves on the wire, puts being verified)
    await new Promise((r) => setTimeout(r, 300))
    const stored = status().chunksDone
    expect(stored).toBeGreaterThan(0)
    expect(await held(device, next)).toBe(stored)
    // it stopped asking: the seeder sends nothing more for it
    const sent = seeder.status().totals.bytesUploaded
    await new Promise((r) => setTimeout(r, 600))
    expect(seeder.status().totals.bytesUploaded).toBe(sent)
    // a reader waiting for a missing chunk gets the same error rather than waiting forever
    const missing = (await Promise.all(next.chunks.map(async (c) => await device.store.has(c)))).indexOf(
      false,
    )
    const at = missing * TEST_CHUNK_SIZE
    await expect(readBytes(device, next, at, at)).rejects.toMatchObject({ name: 'StoreWriteError' })

    await device.unpin(kept.cid)
    const fromPeers = device.status().totals.bytesFromPeers
    await device.fetch(next.cid)
    expect(status()).toMatchObject({ complete: true, error: undefined })
    expect(await held(device, next)).toBe(next.chunks.length)
    expect(await held(device, kept)).toBe(0) // evicted whole, and its swarm left
    expect(device.status().swarms.map((s) => s.manifestCid)).not.toContain(kept.cid.toString())
    // only what was missing came again
    expect(device.status().totals.bytesFromPeers - fromPeers).toBe(next.size - stored * TEST_CHUNK_SIZE)
    expect(
      Buffer.from(await readBytes(device, next, 0, next.size - 1)).equals(
        Buffer.from(await readAll(seeder, next)),
      ),
    ).toBe(true)
  })

  it('a device does not evict the content a reader is playing, even when it is the least recently fetched', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const [a, b, c] = [
      await addContent(seeder.store, randomContent(MiB), key, { name: 'a' }),
      await addContent(seeder.store, randomContent(MiB), key, { name: 'b' }),
      await addContent(seeder.store, randomContent(MiB), key, { name: 'c' }),
    ]
    for (const m of [a, b, c]) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 2.5 * MiB })
    await h.connect(device, seeder)
    await device.fetch(a.cid)
    const playing = device.read(a.cid, 0, a.size - 1)[Symbol.asyncIterator]()
    const parts = [(await playing.next()).value as Uint8Array]
    await device.fetch(b.cid)
    await device.fetch(c.cid) // needs room: a is played, so b goes
    for (let r = await playing.next(); r.done !== true; r = await playing.next()) parts.push(r.value)
    expect(Buffer.concat(parts).equals(Buffer.from(await readAll(seeder, a)))).toBe(true)
    expect(await held(device, a)).toBe(a.chunks.length)
    expect(await held(device, b)).toBe(0)
    expect(await held(device, c)).toBe(c.chunks.length)
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
