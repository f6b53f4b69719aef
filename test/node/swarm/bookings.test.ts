/**
 * Requests wait for the download bucket before they are sent. One released before it was
 * sent (its peer stalled, the chunk came from elsewhere) gives its bytes back, so a node
 * under a download limit does not wait for bytes it never asked for.
 */
import { logger } from '@libp2p/logger'
import { afterEach, describe, expect, it } from 'vitest'
import { Limiter } from '../../../node/limiter/index.ts'
import { MemoryChunkStore } from '../../../node/store/index.ts'
import { Bitfield } from '../../../node/swarm/bitfield.ts'
import { FrameType } from '../../../node/swarm/codec.ts'
import type { PeerSession } from '../../../node/swarm/session.ts'
import { Swarm } from '../../../node/swarm/swarm.ts'
import { addContent, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'

/** A peer as the swarm sees it, holding every chunk and answering nothing. */
function silentPeer(name: string, chunks: number): { session: PeerSession; requested: number[] } {
  const requested: number[] = []
  const session = {
    peer: name,
    hello: { v: 1, manifest: '', role: 'campus' },
    outstanding: new Map<number, number>(),
    offered: new Set<number>(),
    pendingHaves: [],
    score: 0,
    snubbedUntil: 0,
    rateBytesPerSecond: 0,
    deliveredBytes: 0,
    lastDeliveryAt: performance.now(),
    openedAt: performance.now(),
    closed: false,
    stream: { direction: 'outbound' },
    setChunkLimit: () => {},
    sendBitfield: () => {},
    sendManifest: () => {},
    updateRate: () => {},
    close: () => {},
    withdrew: () => {},
    sendIndex: (type: number, index: number) => {
      if (type === FrameType.Request) requested.push(index)
    },
  } as unknown as PeerSession
  const bits = new Bitfield(chunks)
  for (let i = 0; i < chunks; i++) bits.set(i)
  session.bits = bits
  return { session, requested }
}

describe('requests waiting for the download bucket', () => {
  let swarm: Swarm | undefined
  afterEach(() => swarm?.stop())

  it('give their bytes back when released before they were sent', async () => {
    const seeded = new MemoryChunkStore()
    await seeded.start()
    const m = await addContent(seeded, randomContent(8 * TEST_CHUNK_SIZE), await originKey())
    // one chunk in 100 s: a booked request cannot be sent within this test, whatever the timer lag
    const limiter = new Limiter({ downloadBytesPerSecond: TEST_CHUNK_SIZE / 100 })
    const store = new MemoryChunkStore()
    await store.start()
    swarm = new Swarm(
      m.cid,
      {
        store,
        limiter,
        log: logger('test:bookings'),
        self: { role: 'campus' },
        ban: () => {},
        totals: {
          bytesFromPeers: 0,
          bytesFromOrigin: 0,
          bytesUploaded: 0,
          corruptChunks: 0,
          duplicateChunks: 0,
        },
      },
      { peerStallMs: 100 },
    )
    await swarm.setManifest(m)
    const peer = silentPeer('stalls', m.chunks.length)
    expect(swarm.addSession(peer.session, 'me')).toBe(true)
    swarm.want()
    // both requests wait for the bucket (the first about 100 s), far longer than the stall
    await until(() => peer.session.outstanding.size === 2, 10_000)
    expect(peer.requested).toEqual([])
    expect(limiter.download.bytes).toBe(2 * TEST_CHUNK_SIZE)
    // the peer delivers nothing: at the next tick it is stalled and both requests released
    await until(() => peer.session.outstanding.size === 0, 10_000)
    // neither was sent, so neither is counted, and a request to another peer would not wait for them
    expect(limiter.download.bytes).toBe(0)
    expect(peer.requested).toEqual([])
  })
})
