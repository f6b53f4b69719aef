import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { chunkCid, type Manifest } from '../../../node/content/index.ts'
import type { DandelionNode, SwarmStatus } from '../../../node/index.ts'
import { Swarm } from '../../../node/swarm/swarm.ts'
import {
  addContent,
  Harness,
  originKey,
  randomContent,
  readAll,
  TEST_CHUNK_SIZE,
  until,
} from '../utils/harness.ts'

const MiB = 1024 * 1024

/** The parts of a node's swarm these tests look into: requests out, serves queued, puts under way. */
interface SwarmView {
  sessions: Map<string, { outstanding: Map<number, number>; queuedUploads: number; servingUploads: number }>
  putsSettled(): Promise<void>
}

/** The swarm of `m` on `node` (not on the node's public interface). */
function swarmOf(node: DandelionNode, m: Manifest): SwarmView {
  return (node as unknown as { swarm(cid: CID): SwarmView }).swarm(m.cid)
}

/** Requests the swarm has out to its peers. */
function requested(swarm: SwarmView): number {
  return [...swarm.sessions.values()].reduce((n, s) => n + s.outstanding.size, 0)
}

/** The scheduler tick of a swarm, as the class has it (for counting ticks under a spy). */
const swarmTickOf = (Swarm.prototype as unknown as { tick(this: Swarm): void }).tick
function swarmTick(swarm: Swarm): void {
  swarmTickOf.call(swarm)
}

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

/** Bytes that fill `node`'s store to its quota, and `more` bytes beyond. */
function beyondQuota(node: DandelionNode, more: number): Uint8Array {
  const { quotaBytes, bytes } = node.store.usage()
  return randomContent(quotaBytes - bytes + more)
}

describe('content lifecycle on a node', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

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
    const mine = swarmOf(device, next)
    const theirs = swarmOf(seeder, next)
    // the failure cancelled every request at once
    expect(requested(mine)).toBe(0)
    // let what was already under way settle: puts being verified here, serves on the seeder
    await mine.putsSettled()
    await until(() =>
      [...theirs.sessions.values()].every((s) => s.queuedUploads === 0 && s.servingUploads === 0),
    )
    await until(async () => (await held(device, next)) === status().chunksDone)
    const stored = status().chunksDone
    expect(stored).toBeGreaterThan(0)
    // it stopped asking: over two ticks of its scheduler it requests nothing, and the
    // seeder sends nothing more for it
    const sent = seeder.status().totals.bytesUploaded
    let ticks = 0
    let asked = 0
    vi.spyOn(Swarm.prototype as unknown as { tick(): void }, 'tick').mockImplementation(function (
      this: Swarm,
    ) {
      swarmTick(this)
      if ((this as unknown) !== mine) return
      ticks++
      asked += requested(mine)
    })
    await until(() => ticks >= 2)
    expect(asked).toBe(0)
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

  it('a device that evicted a lesson fetches it again from the campus node it is still connected to', async () => {
    const key = await originKey()
    const campus = await h.spawn()
    const lessons = []
    for (let i = 0; i < 2; i++) {
      const bytes = randomContent(MiB + i)
      const m = await addContent(campus.store, bytes, key)
      await campus.seed(m)
      lessons.push({ m, bytes })
    }
    const device = await h.spawn({ role: 'device', quotaBytes: 1.5 * MiB })
    await h.connect(device, campus)
    await device.fetch(lessons[0].m.cid)
    // the second lesson does not fit beside the first: the first is evicted
    await device.fetch(lessons[1].m.cid)
    expect(await device.store.has(lessons[0].m.cid)).toBe(false)
    // played again from the same campus node, over the same connection
    const again = await device.fetch(lessons[0].m.cid, { signal: AbortSignal.timeout(15_000) })
    expect(Buffer.from(await readAll(device, again)).equals(Buffer.from(lessons[0].bytes))).toBe(true)
    expect(device.libp2p.getConnections(campus.peerId)).not.toHaveLength(0)
  })

  it('evicting one version of a lesson keeps the chunks a version being played shares with it', async () => {
    const key = await originKey()
    const bytes = randomContent(2 * MiB)
    const device = await h.spawn({ role: 'device', quotaBytes: 2 * MiB + 4096 })
    // the same file published twice: two manifests, one set of chunks
    const v1 = await addContent(device.store, bytes, key, { name: 'v1' })
    const v2 = await addContent(device.store, bytes, key, { name: 'v2' })
    await device.seed(v1)
    await device.seed(v2)
    const playing = device.read(v2.cid, 0, v2.size - 1)[Symbol.asyncIterator]()
    const parts = [(await playing.next()).value as Uint8Array]

    // a byte more than is left: v1, least recently used, goes (v2 is played)
    const filler = beyondQuota(device, 1)
    await device.store.put(chunkCid(filler), filler)
    expect(await device.store.has(v1.cid)).toBe(false)
    expect(device.status().swarms.map((s) => s.manifestCid)).not.toContain(v1.cid.toString())

    for (let r = await playing.next(); r.done !== true; r = await playing.next()) parts.push(r.value)
    expect(Buffer.concat(parts).equals(Buffer.from(bytes))).toBe(true)
    expect(await held(device, v2)).toBe(v2.chunks.length)
    expect(device.status().swarms.find((s) => s.manifestCid === v2.cid.toString())).toMatchObject({
      complete: true,
      chunksDone: v2.chunks.length,
    })
  })

  it('a device making room keeps content the user pins while it evicts, and the pin', async () => {
    const key = await originKey()
    const device = await h.spawn({ role: 'device', quotaBytes: 2 * MiB + 4096 })
    const a = await addContent(device.store, randomContent(MiB), key, { name: 'a' })
    const b = await addContent(device.store, randomContent(MiB), key, { name: 'b' })
    await device.seed(a)
    await device.seed(b)
    // the eviction of a (least recently used) pauses at its first chunk: the user pins b then
    const deleting = Promise.withResolvers<void>()
    const resume = Promise.withResolvers<void>()
    const del = device.store.delete.bind(device.store)
    vi.spyOn(device.store, 'delete').mockImplementation(async (cid, options) => {
      if (cid.equals(a.chunks[0])) {
        deleting.resolve()
        await resume.promise
      }
      return await del(cid, options)
    })

    // needs more room than a frees: b would be next
    const big = beyondQuota(device, MiB + a.bytes.byteLength + 1)
    const put = device.store.put(chunkCid(big), big).catch((err: Error) => err)
    await deleting.promise
    await device.pin(b.cid)
    resume.resolve()

    expect(await put).toMatchObject({ name: 'QuotaExceededError' })
    expect(device.store.pins()).toContain(b.cid.toString())
    expect(await held(device, b)).toBe(b.chunks.length)
    expect(await held(device, a)).toBe(0)
  })

  it('evicting content whose chunks are still being stored leaves none of them behind', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const m = await addContent(seeder.store, randomContent(2 * MiB), key)
    await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 4 * MiB })
    await h.connect(device, seeder)
    // after the first few, chunks received wait to be stored (a slow disk)
    const waiting = Promise.withResolvers<void>()
    const resume = Promise.withResolvers<void>()
    const put = device.store.put.bind(device.store)
    const puts: Promise<void>[] = []
    vi.spyOn(device.store, 'put').mockImplementation((cid, bytes, options) => {
      const stored = (async () => {
        if (m.chunks.some((c) => c.equals(cid)) && puts.length > 2) {
          waiting.resolve()
          await resume.promise
        }
        await put(cid, bytes, options)
      })()
      puts.push(stored)
      return stored
    })
    const fetching = device.fetch(m.cid).catch((err: Error) => err)
    await waiting.promise

    const evicting = device.evict(m.cid)
    // the waiting puts go on once the eviction began
    setImmediate(() => resume.resolve())
    await evicting
    await Promise.allSettled(puts)
    expect(await fetching).toBeInstanceOf(Error)
    expect(await held(device, m)).toBe(0)
    expect(device.store.usage()).toMatchObject({ chunks: 0, bytes: 0 })
  })
})
