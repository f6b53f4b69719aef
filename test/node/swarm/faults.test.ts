import type { Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import {
  MAX_PROTOCOL_OFFENSES,
  MAX_QUEUED_REQUESTS_PER_PEER,
  SWARM_PROTOCOL,
} from '../../../node/node-constants.ts'
import { MemoryChunkStore } from '../../../node/store/index.ts'
import { FrameType } from '../../../node/swarm/codec.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'

/** A store that flips a byte of everything it hands out: what a broken or malicious peer serves. */
class CorruptingStore extends MemoryChunkStore {
  override async get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    const bytes = (await super.get(cid, options)).slice()
    if (cid.code === 0x55) bytes[0] ^= 0xff
    return bytes
  }
}

describe('faulty peers', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('bans a peer that serves corrupt chunks and completes from another', async () => {
    const key = await originKey()
    const bytes = randomContent(2 * 1024 * 1024)
    const evilStore = new CorruptingStore()
    await evilStore.start()
    const manifest = await addContent(evilStore, bytes, key)
    const evil = await h.spawn({ store: evilStore })
    await evil.seed(manifest)
    const honest = await h.spawn()
    await addContent(honest.store, bytes, key)
    await honest.seed(manifest)

    const leecher = await h.spawn()
    await h.connect(leecher, evil)
    const done = leecher.fetch(manifest.cid)
    await until(() => leecher.status().totals.corruptChunks > 0)
    await h.connect(leecher, honest)
    await done

    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
    const peers = leecher.status().swarms[0].peers.map((p) => p.peer)
    expect(peers).not.toContain(evil.peerId.toString())
    expect(peers).toContain(honest.peerId.toString())
    // the ban holds: a connection the evil peer opens again is closed, and it is not dialed
    await h.connect(evil, leecher).catch(() => {})
    await until(() => evil.libp2p.getConnections(leecher.peerId).length === 0)
    await expect(leecher.libp2p.dial(evil.multiaddrs[0])).rejects.toThrow()
    expect(leecher.libp2p.getConnections(evil.peerId)).toHaveLength(0)
    expect(leecher.status().swarms[0].peers.map((p) => p.peer)).not.toContain(evil.peerId.toString())
    await evilStore.stop()
  })

  it('closes a stream with malformed or oversize frames and keeps serving', async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    const hello = JSON.stringify({ v: 1, manifest: manifest.cid.toString(), role: 'campus' })
    const helloFrame = Buffer.concat([u32(hello.length + 1), Buffer.from([0]), Buffer.from(hello)])
    const attacks: Buffer[] = [
      u32(0x7fffffff), // oversize length prefix
      Buffer.concat([u32(5), Buffer.from([3, 0, 0, 0, 0])]), // request before hello
      Buffer.concat([u32(3), Buffer.from([0]), Buffer.from('{x')]), // hello that is not JSON
      Buffer.concat([helloFrame, u32(2), Buffer.from([99, 0])]), // unknown frame type
      Buffer.concat([helloFrame, u32(9), Buffer.from([3, 0, 0, 0, 0, 1, 2, 3, 4])]), // request of the wrong size
      Buffer.concat([helloFrame, u32(5 * 1024 * 1024), Buffer.from([5])]), // chunk bigger than the chunk size
      Buffer.concat([helloFrame, u32(5), Buffer.from([7, 1, 2, 3, 4])]), // a manifest nobody asked for
    ]
    for (const attack of attacks) {
      // a peer of its own per attack: the third violation by one peer bans it (next test)
      const attacker = await h.spawn()
      const stream = await attacker.libp2p.dialProtocol(seeder.multiaddrs[0], SWARM_PROTOCOL)
      const closed = closedPromise(stream)
      stream.send(attack)
      await closed
    }
    const leecher = await h.spawn()
    await h.connect(leecher, seeder)
    await leecher.fetch(manifest.cid)
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
  })
})

describe('a peer that keeps breaking the protocol', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('drops a peer that sends a junk manifest or a bitfield of the wrong length before the manifest is known, and completes from others', async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024)
    const leecher = await h.spawn()
    const scratch = new MemoryChunkStore()
    await scratch.start()
    const manifest = await addContent(scratch, bytes, key)
    const manifestCid = manifest.cid.toString()
    // two peers answering the leecher's hello as the swarm protocol says, then breaking it
    const attacks = {
      // 5 bytes of bitfield: the lesson has 4 chunks (1 byte)
      bitfield: Buffer.concat([u32(6), Buffer.from([1, 0xff, 0xff, 0xff, 0xff, 0xff])]),
      // bytes that are not the manifest asked for
      manifest: Buffer.concat([u32(1 + 4096), Buffer.from([7]), randomContent(4096)]),
    }
    const closed: Promise<void>[] = []
    for (const attack of Object.values(attacks)) {
      const attacker = await h.spawn()
      await attacker.libp2p.unhandle(SWARM_PROTOCOL)
      const { promise, resolve } = Promise.withResolvers<void>()
      closed.push(promise)
      await attacker.libp2p.handle(SWARM_PROTOCOL, (stream) => {
        stream.addEventListener('close', () => resolve(), { once: true })
        stream.addEventListener('remoteCloseWrite', () => resolve(), { once: true })
        const hello = JSON.stringify({ v: 1, manifest: manifestCid, role: 'campus' })
        stream.send(Buffer.concat([u32(hello.length + 1), Buffer.from([0]), Buffer.from(hello), attack]))
      })
      await h.connect(leecher, attacker)
    }
    const done = leecher.fetch(manifestCid, { signal: AbortSignal.timeout(20_000) })
    // the junk manifest is refused at once (it does not hash to the CID asked for)
    await closed[1]
    // an honest peer comes along with the manifest and the chunks
    const seeder = await h.spawn()
    await addContent(seeder.store, bytes, key) // the same chunks
    await seeder.seed(manifest)
    await h.connect(leecher, seeder)
    await done
    // the bad bitfield is found once the manifest says how long it must be
    await closed[0]
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
    expect(leecher.status().swarms[0].peers.map((p) => p.peer)).toEqual([seeder.peerId.toString()])
  })

  it(`is banned at its ${MAX_PROTOCOL_OFFENSES}rd violation across streams, and the node keeps serving others`, async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    const attacker = await h.spawn()
    const hello = JSON.stringify({ v: 1, manifest: manifest.cid.toString(), role: 'campus' })
    const helloFrame = Buffer.concat([u32(hello.length + 1), Buffer.from([0]), Buffer.from(hello)])
    // each violation closes its stream; the attacker opens a new one and tries again
    for (let i = 1; i <= MAX_PROTOCOL_OFFENSES; i++) {
      const stream = await attacker.libp2p.dialProtocol(seeder.multiaddrs[0], SWARM_PROTOCOL)
      const closed = closedPromise(stream)
      stream.send(Buffer.concat([helloFrame, u32(2), Buffer.from([99, 0])])) // unknown frame type
      await closed
      // below the bound only the stream is closed, not the connection
      if (i < MAX_PROTOCOL_OFFENSES)
        expect(seeder.libp2p.getConnections(attacker.peerId).length).toBeGreaterThan(0)
    }
    // banned: its connection is closed, and one it opens again is closed too
    await until(() => seeder.libp2p.getConnections(attacker.peerId).length === 0)
    expect(seeder.status().bannedPeers).toBe(1)
    await h.connect(attacker, seeder).catch(() => {})
    await until(() => attacker.libp2p.getConnections(seeder.peerId).length === 0)

    const leecher = await h.spawn()
    await h.connect(leecher, seeder)
    await leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(20_000) })
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
  })
})

describe('a peer flooding requests', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it(`is served up to ${MAX_QUEUED_REQUESTS_PER_PEER} queued requests; past them its stream is closed, as an offense`, async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024) // 4 chunks
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    const hello = JSON.stringify({ v: 1, manifest: manifest.cid.toString(), role: 'campus' })
    const helloFrame = Buffer.concat([
      u32(hello.length + 1),
      Buffer.from([FrameType.Hello]),
      Buffer.from(hello),
    ])
    /** `n` REQUEST frames for the manifest's chunks in turn, sent at once after the hello. */
    const requests = (n: number): Buffer =>
      Buffer.concat([
        helloFrame,
        ...Array.from({ length: n }, (_, i) =>
          Buffer.concat([u32(5), Buffer.from([FrameType.Request]), u32(i % manifest.chunks.length)]),
        ),
      ])

    // at the bound: every request is queued and answered with its chunk
    const polite = await h.spawn()
    const stream = await polite.libp2p.dialProtocol(seeder.multiaddrs[0], SWARM_PROTOCOL)
    const chunks = countChunkFrames(stream)
    stream.send(requests(MAX_QUEUED_REQUESTS_PER_PEER))
    await until(() => chunks.count === MAX_QUEUED_REQUESTS_PER_PEER)
    expect(stream.status).toBe('open')

    // past it, in one burst: the stream is closed, each time, and the offenses add up to a ban
    const flooder = await h.spawn()
    for (let i = 1; i <= MAX_PROTOCOL_OFFENSES; i++) {
      const flood = await flooder.libp2p.dialProtocol(seeder.multiaddrs[0], SWARM_PROTOCOL)
      const closed = closedPromise(flood)
      flood.send(requests(4 * MAX_QUEUED_REQUESTS_PER_PEER))
      await closed
      if (i < MAX_PROTOCOL_OFFENSES) expect(seeder.status().bannedPeers).toBe(0)
    }
    await until(() => seeder.libp2p.getConnections(flooder.peerId).length === 0)
    expect(seeder.status().bannedPeers).toBe(1)
    // the polite peer is still served
    expect(seeder.libp2p.getConnections(polite.peerId).length).toBeGreaterThan(0)
  })
})

/** Counts the CHUNK frames arriving on a raw swarm stream. */
function countChunkFrames(stream: Stream): { count: number } {
  const seen = { count: 0 }
  let buffered = Buffer.alloc(0)
  stream.addEventListener('message', (evt) => {
    buffered = Buffer.concat([buffered, Buffer.from(evt.data.subarray())])
    while (buffered.byteLength >= 4 && buffered.byteLength >= 4 + buffered.readUInt32BE(0)) {
      const length = buffered.readUInt32BE(0)
      if (buffered[4] === FrameType.Chunk) seen.count++
      buffered = buffered.subarray(4 + length)
    }
  })
  return seen
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

function closedPromise(stream: Stream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.status !== 'open') resolve()
    stream.addEventListener('close', () => resolve(), { once: true })
    stream.addEventListener('remoteCloseWrite', () => resolve(), { once: true })
  })
}
