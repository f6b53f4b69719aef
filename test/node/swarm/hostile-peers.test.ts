import type { Stream } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import type { DandelionNode } from '../../../node/index.ts'
import { MAX_PROTOCOL_OFFENSES, SERVE_CONCURRENCY, SWARM_PROTOCOL } from '../../../node/node-constants.ts'
import { FrameType } from '../../../node/swarm/codec.ts'
import {
  addContent,
  Harness,
  originKey,
  randomContent,
  readAll,
  TEST_CHUNK_SIZE,
  until,
} from '../utils/harness.ts'
import { helloFrame, indexFrame, u32 } from './raw-frames.ts'

describe('peers that abuse the swarm protocol', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('refuses a manifest-sized frame on its header, before a hello or unasked, and bans a peer that keeps trying', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, randomContent(1024 * 1024), key)
    await seeder.seed(manifest)
    const attacker = await h.spawn()
    // the header of an 8 MiB manifest frame and 1 MiB of it: before the fix each such
    // stream buffered up to 8 MiB and stayed open (60 streams of one connection held 540 MB)
    const manifestFrame = Buffer.concat([u32(8 * 1024 * 1024), Buffer.from([FrameType.Manifest])])
    const attacks = [
      manifestFrame, // instead of a hello
      Buffer.concat([helloFrame(manifest.cid.toString()), manifestFrame]), // nobody asked for it
      manifestFrame,
    ]
    expect(attacks).toHaveLength(MAX_PROTOCOL_OFFENSES)
    for (const attack of attacks) {
      const stream = await attacker.libp2p.dialProtocol(seeder.multiaddrs[0], SWARM_PROTOCOL)
      stream.send(attack)
      stream.send(new Uint8Array(1024 * 1024))
      await until(() => stream.status !== 'open', 10_000)
    }
    await until(() => seeder.status().bannedPeers === 1, 10_000)

    const leecher = await h.spawn()
    await h.connect(leecher, seeder)
    await leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(20_000) })
  })

  it('gives a peer that does not read what it asked for no upload slot and no growing write buffer, and serves an honest peer meanwhile', async () => {
    const key = await originKey()
    const bytes = randomContent(4 * 1024 * 1024) // 16 chunks
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    const chunks = manifest.chunks.length
    // three peers ask for 64 chunks each (the most one may queue) and never read a byte
    const readers: DandelionNode[] = []
    for (let n = 0; n < 3; n++) {
      const stalled = await h.spawn()
      const stream = await stalled.libp2p.dialProtocol(seeder.multiaddrs[0], SWARM_PROTOCOL)
      stream.pause()
      const requests = Array.from({ length: 64 }, (_, i) => indexFrame(FrameType.Request, i % chunks))
      stream.send(Buffer.concat([helloFrame(manifest.cid.toString()), ...requests]))
      readers.push(stalled)
    }
    for (const stalled of readers)
      await until(() => (seederStream(seeder, stalled)?.writeBufferLength ?? 0) > 0)

    // before the fix they held the node's upload slots for about 2 s per chunk and this
    // fetch took 44 s instead of 0.4 s (an 8 MiB lesson), their chunks piling up meanwhile
    const leecher = await h.spawn()
    await h.connect(leecher, seeder)
    await leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(30_000) })
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)

    // what each non-reader was handed: at most a round of serves past one chunk queued
    const uploaded = seeder.status().totals.bytesUploaded - manifest.size
    expect(uploaded).toBeLessThanOrEqual(3 * (SERVE_CONCURRENCY + 1) * TEST_CHUNK_SIZE)
    for (const stalled of readers) {
      const stream = seederStream(seeder, stalled)
      expect(stream?.status).toBe('open')
      expect(stream?.writeBufferLength).toBeLessThanOrEqual((SERVE_CONCURRENCY + 1) * TEST_CHUNK_SIZE)
    }
  })

  it('makes room at the cap on peers of a seeding swarm for a leecher, replacing peers that only said hello', async () => {
    const key = await originKey()
    const bytes = randomContent(1024 * 1024)
    const seeder = await h.spawn({ maxPeersPerSwarm: 2, peerStallMs: 200 })
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    // two peers take both places and do nothing with them; before the fix nobody seeding
    // ever scores below zero, so they kept them and every later leecher was refused
    for (let n = 0; n < 2; n++) {
      const idle = await h.spawn()
      const stream = await idle.libp2p.dialProtocol(seeder.multiaddrs[0], SWARM_PROTOCOL)
      stream.send(helloFrame(manifest.cid.toString()))
    }
    await until(() => seeder.status().swarms[0].peers.length === 2)

    const leecher = await h.spawn()
    const seederId = seeder.peerId.toString()
    const done = leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(20_000) })
    // a refused leecher tries again by connecting again
    await until(async () => {
      if (leecher.status().swarms[0]?.peers.some((p) => p.peer === seederId) === true) return true
      await leecher.libp2p.hangUp(seeder.peerId)
      await h.connect(leecher, seeder)
      return false
    }, 10_000)
    await done
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
  })
})

/** The seeder's end of the swarm stream `peer` opened. */
function seederStream(seeder: DandelionNode, peer: DandelionNode): Stream | undefined {
  return seeder.libp2p
    .getConnections(peer.peerId)
    .flatMap((c) => c.streams)
    .find((s) => s.protocol === SWARM_PROTOCOL)
}
