/**
 * A lamp serving other lamps: evicting a lesson a peer is pulling from it, its small
 * upload limit beside a campus node seeding the same lesson, and a campus node going away
 * while a lamp plays from it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
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
const h = new Harness()
afterEach(async () => await h.teardown())

async function held(node: DandelionNode, m: Manifest): Promise<number> {
  return (await Promise.all(m.chunks.map(async (c) => await node.store.has(c)))).filter(Boolean).length
}

describe('a lamp serving other lamps', () => {
  it('a lamp evicting a lesson another lamp pulls from it is not banned, and the puller completes elsewhere', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes = randomContent(2 * MiB)
    const lesson = await addContent(seeder.store, bytes, key, { name: 'lesson' })
    const other = await addContent(seeder.store, randomContent(MiB), key, { name: 'other' })
    for (const m of [lesson, other]) await seeder.seed(m)
    const a = await h.spawn({ role: 'device', quotaBytes: 2.5 * MiB, trustedOrigins: [key.publicKey] })
    await h.connect(a, seeder)
    await a.fetch(lesson.cid)
    a.setLimits({ uploadBytesPerSecond: 256 * 1024 })

    const b = await h.spawn({ role: 'device', trustedOrigins: [key.publicKey] })
    await h.connect(b, a)
    const pulling = b.fetch(lesson.cid).then(
      () => undefined,
      (e: Error) => e,
    )
    await until(async () => (await held(b, lesson)) >= 2)
    // a is asked to place another lesson: no room but by evicting the one b pulls
    await a.fetch(other.cid)
    expect(await held(a, lesson)).toBe(0)
    // the pull was under way: b had part of the lesson, from a alone
    expect(await held(b, lesson)).toBeLessThan(lesson.chunks.length)
    expect(a.status().totals.bytesUploaded).toBeGreaterThan(0)
    await h.connect(b, seeder)
    expect(await pulling).toBeUndefined()
    expect(Buffer.from(await readAll(b, lesson)).equals(Buffer.from(bytes))).toBe(true)
    const status = b.status()
    expect(status.totals.corruptChunks).toBe(0)
    expect(status.bannedPeers).toBe(0)
    expect(a.status().bannedPeers).toBe(0)
  })

  it('a lamp missing chunks it advertised answers DONT_HAVE for them and is not banned; the puller gets them elsewhere', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes = randomContent(2 * MiB)
    const lesson = await addContent(seeder.store, bytes, key, { name: 'lesson' })
    await seeder.seed(lesson)
    const a = await h.spawn({ role: 'device', trustedOrigins: [key.publicKey] })
    await h.connect(a, seeder)
    await a.fetch(lesson.cid)
    // gone from a's store behind its swarm's back (as a chunk that rotted on disk)
    for (const i of [1, 4, 6]) await a.store.delete(lesson.chunks[i])

    const b = await h.spawn({ role: 'device', trustedOrigins: [key.publicKey] })
    await h.connect(b, a)
    const pulling = b.fetch(lesson.cid)
    await until(async () => (await held(b, lesson)) === lesson.chunks.length - 3)
    expect(b.status().swarms[0].peers.map((p) => p.peer)).toContain(a.peerId.toString())
    await h.connect(b, seeder)
    await pulling
    expect(Buffer.from(await readAll(b, lesson)).equals(Buffer.from(bytes))).toBe(true)
    expect(b.status().bannedPeers).toBe(0)
    expect(b.status().totals.corruptChunks).toBe(0)
  })

  it("a lamp's small upload limit holds beside a campus node seeding the same lesson: most bytes come from the campus", async () => {
    const key = await originKey()
    const campus = await h.spawn()
    const bytes = randomContent(4 * MiB)
    const lesson = await addContent(campus.store, bytes, key, { name: 'lesson' })
    await campus.seed(lesson)
    const lamp = await h.spawn({ role: 'device', trustedOrigins: [key.publicKey] })
    await h.connect(lamp, campus)
    await lamp.fetch(lesson.cid)
    lamp.setLimits({ uploadBytesPerSecond: 64 * 1024 })
    campus.setLimits({ uploadBytesPerSecond: 2 * MiB })

    const puller = await h.spawn({ role: 'device', trustedOrigins: [key.publicKey] })
    await h.connect(puller, lamp)
    await h.connect(puller, campus)
    const started = performance.now()
    await puller.fetch(lesson.cid)
    const seconds = (performance.now() - started) / 1000
    expect(Buffer.from(await readAll(puller, lesson)).equals(Buffer.from(bytes))).toBe(true)
    const fromLamp = lamp.status().totals.bytesUploaded
    const fromCampus = campus.status().totals.bytesUploaded - 4 * MiB // the lamp's own fetch
    expect(fromLamp + fromCampus).toBeGreaterThanOrEqual(4 * MiB)
    // a 4 MiB lesson, the campus unlimited: the lamp sends at most a chunk or two
    expect(fromLamp).toBeLessThanOrEqual(0.25 * (fromLamp + fromCampus))
    expect(fromCampus).toBeGreaterThanOrEqual(0.75 * 4 * MiB)
    // and never faster than its limit, but for one chunk taken as a burst
    expect(fromLamp).toBeLessThanOrEqual(64 * 1024 * seconds + TEST_CHUNK_SIZE)
  })

  it('a campus node going away over WebRTC-Direct mid-playback: the range read completes with the right bytes', async () => {
    const key = await originKey()
    const bytes = randomContent(4 * MiB)
    const campus = await h.spawn({ webrtc: true, listen: ['/ip4/127.0.0.1/udp/0/webrtc-direct'] })
    const other = await h.spawn()
    const lesson = await addContent(campus.store, bytes, key, { name: 'lesson' })
    await addContent(other.store, bytes, key, { name: 'lesson' })
    await campus.seed(lesson)
    await other.seed(lesson)
    // the campus node serves slowly enough that it is gone mid-read; the other barely at all yet
    campus.setLimits({ uploadBytesPerSecond: 512 * 1024 })
    other.setLimits({ uploadBytesPerSecond: 16 * 1024 })
    const lamp = await h.spawn({
      role: 'device',
      webrtc: true,
      trustedOrigins: [key.publicKey],
      playback: { port: 0 },
    })
    const addr = campus.multiaddrs.find((a) => a.toString().includes('/webrtc-direct'))
    await lamp.libp2p.dial(addr!)
    await h.connect(lamp, other)
    expect(lamp.libp2p.getConnections(campus.peerId)[0].remoteAddr.toString()).toContain('/webrtc-direct')

    const from = 100_000
    const to = 4 * MiB - 12_345
    const res = await fetch(`${lamp.playbackUrl}/content/${lesson.cid.toString()}`, {
      headers: { range: `bytes=${from}-${to}` },
      signal: AbortSignal.timeout(30_000),
    })
    expect(res.status).toBe(206)
    const reader = res.body!.getReader()
    const parts: Uint8Array[] = []
    let got = 0
    while (got < MiB) {
      const r = await reader.read()
      if (r.done === true) break
      parts.push(r.value)
      got += r.value.length
    }
    await campus.stop()
    h.nodes.splice(h.nodes.indexOf(campus), 1)
    // gone mid-read: the lamp does not hold the rest of the range yet
    expect(await held(lamp, lesson)).toBeLessThan(lesson.chunks.length)
    other.setLimits({ uploadBytesPerSecond: Number.POSITIVE_INFINITY })
    for (let r = await reader.read(); r.done !== true; r = await reader.read()) parts.push(r.value)
    expect(Buffer.concat(parts).equals(Buffer.from(bytes.subarray(from, to + 1)))).toBe(true)
    expect(lamp.status().totals.corruptChunks).toBe(0)
  })
})
