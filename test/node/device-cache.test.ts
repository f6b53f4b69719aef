/**
 * A lamp's cache under a lesson: quota filling while a class plays over HTTP, restarts
 * with a nearly full cache or a smaller quota, fetches racing for the last free room,
 * content bigger than the whole quota, and a full disk.
 */
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Manifest } from '../../node/content/index.ts'
import type { DandelionNode, DandelionNodeInit } from '../../node/index.ts'
import type { FsChunkStore } from '../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from './utils/harness.ts'

const MiB = 1024 * 1024
const h = new Harness()
afterEach(async () => {
  vi.restoreAllMocks()
  await h.teardown()
})

async function held(node: DandelionNode, m: Manifest): Promise<number> {
  return (await Promise.all(m.chunks.map(async (c) => await node.store.has(c)))).filter(Boolean).length
}

async function get(node: DandelionNode, cid: CID, range?: string): Promise<Response> {
  return await fetch(`${node.playbackUrl}/content/${cid.toString()}`, {
    headers: range === undefined ? {} : { range },
    signal: AbortSignal.timeout(15_000),
  })
}

describe('a lamp cache during a lesson', () => {
  it('a lesson played over HTTP while the quota fills is not evicted under the player; a pinned one is never evicted', async () => {
    const key = await originKey()
    const seeder = await h.spawn({ limits: { uploadBytesPerSecond: 2 * MiB } })
    const bytes = randomContent(6 * MiB)
    const played = await addContent(seeder.store, bytes, key, { name: 'played' })
    const pinned = await addContent(seeder.store, randomContent(MiB), key, { name: 'pinned' })
    const next = await addContent(seeder.store, randomContent(MiB), key, { name: 'next' })
    for (const m of [played, pinned, next]) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 7.5 * MiB, playback: { port: 0 } })
    await h.connect(device, seeder)
    await device.fetch(pinned.cid)
    await device.pin(pinned.cid)
    await device.fetch(played.cid)
    // the class plays `played` while the lamp is asked to place `next`: no room but by evicting
    const res = await get(device, played.cid)
    const reader = res.body!.getReader()
    const parts: Uint8Array[] = [(await reader.read()).value!]
    // the player pauses (backpressure holds the response open) while the lamp is asked to place `next`
    const placed = await device.fetch(next.cid).catch((e: Error) => e)
    expect(placed).toMatchObject({ name: 'StoreWriteError' })
    for (let r = await reader.read(); r.done !== true; r = await reader.read()) parts.push(r.value)
    expect(Buffer.concat(parts).equals(Buffer.from(bytes))).toBe(true)
    expect(await held(device, pinned)).toBe(pinned.chunks.length)
    expect(await held(device, played)).toBe(played.chunks.length)
    // the response is over: the next placement may evict `played` but never `pinned`
    await device.fetch(next.cid)
    expect(await held(device, pinned)).toBe(pinned.chunks.length)
    expect(await held(device, next)).toBe(next.chunks.length)
    // and a player coming back to `played` still gets the right bytes (fetched again)
    const again = await get(device, played.cid, 'bytes=1000-300000')
    expect(again.status).toBe(206)
    expect(Buffer.from(await again.arrayBuffer()).equals(Buffer.from(bytes.subarray(1000, 300001)))).toBe(
      true,
    )
  })

  it('a lamp restarted mid-download with a nearly full cache finishes the download by evicting old lessons', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const old = [
      await addContent(seeder.store, randomContent(MiB), key, { name: 'old-0' }),
      await addContent(seeder.store, randomContent(MiB), key, { name: 'old-1' }),
    ]
    const bytes = randomContent(2 * MiB)
    const lesson = await addContent(seeder.store, bytes, key, { name: 'lesson' })
    for (const m of [...old, lesson]) await seeder.seed(m)
    const dataDir = await h.tempDir()
    const init: DandelionNodeInit = {
      role: 'device',
      dataDir,
      quotaBytes: 3.25 * MiB,
      trustedOrigins: [key.publicKey],
      bootstrap: [`${seeder.multiaddrs[0].toString()}`],
    }
    const device = await h.spawn(init)
    await h.connect(device, seeder)
    for (const m of old) await device.fetch(m.cid)
    seeder.setLimits({ uploadBytesPerSecond: MiB })
    const fetching = device.fetch(lesson.cid).catch((e: Error) => e)
    await until(async () => (await held(device, lesson)) >= 2)
    await device.stop()
    h.nodes.splice(h.nodes.indexOf(device), 1)
    await fetching
    seeder.setLimits({ uploadBytesPerSecond: Number.POSITIVE_INFINITY })

    const again = await h.spawn(init)
    await until(async () => (await held(again, lesson)) === lesson.chunks.length, 20_000)
    expect(Buffer.from(await readAll(again, lesson)).equals(Buffer.from(bytes))).toBe(true)
    expect(await held(again, old[0])).toBe(0) // least recently used went
    expect(again.store.usage().bytes).toBeLessThanOrEqual(3.25 * MiB)
    expect(again.store.pins()).toEqual([])
  })

  it('a lamp restarted with a quota below what it holds evicts unpinned lessons to place a new one', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const ms = []
    for (let i = 0; i < 4; i++)
      ms.push(await addContent(seeder.store, randomContent(MiB), key, { name: `l${i}` }))
    for (const m of ms) await seeder.seed(m)
    const dataDir = await h.tempDir()
    const init = (quotaBytes: number): DandelionNodeInit => ({
      role: 'device',
      dataDir,
      quotaBytes,
      trustedOrigins: [key.publicKey],
    })
    const device = await h.spawn(init(4 * MiB))
    await h.connect(device, seeder)
    for (const m of ms.slice(0, 3)) await device.fetch(m.cid)
    await device.pin(ms[0].cid)
    await device.stop()
    h.nodes.splice(h.nodes.indexOf(device), 1)

    const again = await h.spawn(init(1.5 * MiB))
    await h.connect(again, seeder)
    expect(again.store.usage().bytes).toBeGreaterThan(1.5 * MiB)
    // only the pinned lesson may stay: the new one does not fit beside it
    await expect(again.fetch(ms[3].cid)).rejects.toMatchObject({ name: 'StoreWriteError' })
    expect(await held(again, ms[0])).toBe(ms[0].chunks.length)
    await again.unpin(ms[0].cid)
    await again.fetch(ms[3].cid)
    expect(await held(again, ms[3])).toBe(ms[3].chunks.length)
    expect(again.store.usage().bytes).toBeLessThanOrEqual(1.5 * MiB)
  })

  it('two fetches racing for the last free room: one lesson is placed whole, then the other in its place', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const contents = [randomContent(2 * MiB), randomContent(2 * MiB)]
    const ms = [
      await addContent(seeder.store, contents[0], key, { name: 'a' }),
      await addContent(seeder.store, contents[1], key, { name: 'b' }),
    ]
    for (const m of ms) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 3 * MiB })
    await h.connect(device, seeder)
    const results = await Promise.allSettled(ms.map(async (m) => await device.fetch(m.cid)))
    // neither holds the other's partial chunks hostage: at most one gives up, for lack of room
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []))
    expect(failed.length).toBeLessThanOrEqual(1)
    for (const err of failed) expect(err).toMatchObject({ name: 'StoreWriteError' })
    const whole = [await held(device, ms[0]), await held(device, ms[1])].map((n) => n === ms[0].chunks.length)
    expect(whole.some(Boolean), `held whole: ${whole}`).toBe(true)
    const w = whole[0] ? 0 : 1
    expect(Buffer.from(await readAll(device, ms[w])).equals(Buffer.from(contents[w]))).toBe(true)
    // the other is fetched again in its place, then the first again in the other's
    for (const i of [1 - w, w]) {
      await device.fetch(ms[i].cid, { signal: AbortSignal.timeout(15_000) })
      expect(Buffer.from(await readAll(device, ms[i])).equals(Buffer.from(contents[i]))).toBe(true)
      expect(device.store.usage().bytes).toBeLessThanOrEqual(3 * MiB)
    }
    expect(device.store.pins()).toEqual([])
  })

  it('a lamp restarted holding two half-downloaded lessons that cannot both fit finishes one, then the other', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const contents = [randomContent(2 * MiB), randomContent(2 * MiB)]
    const ms = [
      await addContent(seeder.store, contents[0], key, { name: 'a' }),
      await addContent(seeder.store, contents[1], key, { name: 'b' }),
    ]
    for (const m of ms) await seeder.seed(m)
    const dataDir = await h.tempDir()
    const init: DandelionNodeInit = {
      role: 'device',
      dataDir,
      quotaBytes: 3 * MiB,
      trustedOrigins: [key.publicKey],
    }
    // the state two downloads racing for the room used to leave: each wanted, 6 and 5 of 8
    // chunks held, no room for either to finish
    const device = await h.spawn(init)
    for (const [i, m] of ms.entries()) {
      await device.store.pin(`want:${m.cid.toString()}`, [m.cid])
      await device.store.put(m.cid, new Uint8Array(m.bytes))
      for (const c of m.chunks.slice(0, 6 - i)) await device.store.put(c, await seeder.store.get(c))
    }
    await device.stop()
    h.nodes.splice(h.nodes.indexOf(device), 1)

    // both downloads resume at start: one finishes by evicting the other's partial chunks
    const again = await h.spawn({ ...init, bootstrap: [seeder.multiaddrs[0].toString()] })
    const whole = async (): Promise<boolean[]> =>
      await Promise.all(ms.map(async (m) => (await held(again, m)) === m.chunks.length))
    await until(async () => (await whole()).some(Boolean), 20_000)
    const w = (await whole())[0] ? 0 : 1
    expect(Buffer.from(await readAll(again, ms[w])).equals(Buffer.from(contents[w]))).toBe(true)
    // and the other can be fetched after it, in its place
    await again.fetch(ms[1 - w].cid, { signal: AbortSignal.timeout(15_000) })
    expect(Buffer.from(await readAll(again, ms[1 - w])).equals(Buffer.from(contents[1 - w]))).toBe(true)
    expect(again.store.usage().bytes).toBeLessThanOrEqual(3 * MiB)
    expect(again.store.pins()).toEqual([])
  })

  it('playing over HTTP a lesson bigger than the whole quota: the player is told, not sent a truncated file', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes = randomContent(3 * MiB)
    const big = await addContent(seeder.store, bytes, key, { name: 'big' })
    await seeder.seed(big)
    const small = await addContent(seeder.store, randomContent(MiB / 2), key, { name: 'small' })
    await seeder.seed(small)
    const device = await h.spawn({ role: 'device', quotaBytes: 2 * MiB, playback: { port: 0 } })
    await h.connect(device, seeder)
    await device.fetch(small.cid)
    // a whole-file GET can never be held: refused up front instead of a 200 cut short
    const res = await get(device, big.cid)
    expect(res.status).toBe(507)
    expect(((await res.json()) as { error: string }).error).toBe('QuotaExceededError')
    // and nothing was evicted for it
    expect(await held(device, small)).toBe(small.chunks.length)
    // a seek into it, within the quota, still plays
    const part = await get(device, big.cid, 'bytes=1000000-1300000')
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(bytes.subarray(1000000, 1300001)))).toBe(
      true,
    )
  })

  it('POST /fetch of a lesson bigger than the whole quota shows QuotaExceededError in /status and evicts nothing', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const small = await addContent(seeder.store, randomContent(MiB / 2), key, { name: 'small' })
    const big = await addContent(seeder.store, randomContent(3 * MiB), key, { name: 'big' })
    for (const m of [small, big]) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 2 * MiB, playback: { port: 0 } })
    await h.connect(device, seeder)
    await device.fetch(small.cid)
    const res = await fetch(`${device.playbackUrl}/fetch/${big.cid.toString()}`, { method: 'POST' })
    expect(res.status).toBe(202)
    await until(async () => {
      const s = (await (await fetch(`${device.playbackUrl}/status`)).json()) as {
        swarms: { manifestCid: string; error?: string }[]
      }
      return s.swarms.some((x) => x.manifestCid === big.cid.toString() && x.error?.includes('quota') === true)
    }, 10_000)
    expect(await held(device, small)).toBe(small.chunks.length)
    expect(await held(device, big)).toBe(0)
    // counted as a refusal for lack of room (metrics and the tracker's health report read it)
    expect(device.store.usage().refusedWrites).toBe(1)
  })

  it('a full disk (ENOSPC) on a lamp fails the fetch clearly and keeps what it holds intact', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes = randomContent(MiB)
    const kept = await addContent(seeder.store, bytes, key, { name: 'kept' })
    const next = await addContent(seeder.store, randomContent(MiB), key, { name: 'next' })
    for (const m of [kept, next]) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', dataDir: await h.tempDir(), quotaBytes: 8 * MiB })
    await h.connect(device, seeder)
    await device.fetch(kept.cid)
    const store = device.store as FsChunkStore
    const proto = Object.getPrototypeOf(store) as { writeRaw: unknown; addInPlace?: unknown }
    const enospc = (): Error =>
      Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 })
    vi.spyOn(proto as { writeRaw(): Promise<void> }, 'writeRaw').mockImplementation(async () => {
      throw enospc()
    })
    if (typeof proto.addInPlace === 'function')
      vi.spyOn(proto as { addInPlace(): Promise<void> }, 'addInPlace').mockImplementation(async () => {
        throw enospc()
      })
    const err = await device.fetch(next.cid, { signal: AbortSignal.timeout(10_000) }).catch((e: Error) => e)
    expect(err).toMatchObject({ name: 'StoreWriteError' })
    expect(((err as Error).cause as { code?: string }).code).toBe('ENOSPC')
    // not a matter of room: the download stays wanted, to resume once the disk has room
    expect(device.store.pins()).toContain(`want:${next.cid.toString()}`)
    expect(Buffer.from(await readAll(device, kept)).equals(Buffer.from(bytes))).toBe(true)
  })
})
