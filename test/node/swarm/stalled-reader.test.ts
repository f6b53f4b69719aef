/**
 * A playback reader blocked on a chunk that only a stalled peer claims to hold: once that
 * peer is stalled, the chunk comes from the origin. With a real leecher node on loopback,
 * a real origin (HTTP only, its seeder stopped) and a peer that speaks the protocol by
 * hand, says it holds everything and answers no request.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { DandelionNode } from '../../../node/index.ts'
import { SWARM_PROTOCOL } from '../../../node/node-constants.ts'
import { FrameType } from '../../../node/swarm/codec.ts'
import { Harness, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { startOrigin, type TestOrigin } from '../utils/origin.ts'
import { fullBitfield, handPeer } from './hand-peer.ts'

/** Reads bytes `start`..`end` (inclusive) of a manifest's content through the node's player path. */
async function readRange(
  node: DandelionNode,
  cid: string,
  start: number,
  end: number,
  signal: AbortSignal,
): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const b of node.read(cid, start, end, { signal })) parts.push(b)
  return Buffer.concat(parts)
}

describe('a reader blocked on a chunk only a stalled peer holds', () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
  })

  it('gets the chunk from the origin once the peer is stalled, while only streaming', async () => {
    o = await startOrigin(h)
    const bytes = randomContent(3 * 1024 * 1024)
    const version = await o.publish(bytes)
    // only the HTTP side of the origin stays up: the hand peer is the only peer
    await o.seeder.stop()
    const leecher = await h.spawn({
      originUrl: o.origin.url,
      trustedOrigins: [o.origin.publicKey],
      peerStallMs: 300,
    })
    const cid = version.manifestCid
    // the class watched the start: chunk 0 came from the origin (no peer held it), and the
    // swarm stays, streaming only (no fetch)
    const first = await readRange(leecher, cid, 0, TEST_CHUNK_SIZE - 1, AbortSignal.timeout(10_000))
    expect(first.equals(Buffer.from(bytes.subarray(0, TEST_CHUNK_SIZE)))).toBe(true)

    // a peer that says it holds every chunk and sits on every request
    const manifest = await leecher.manifest(cid)
    const liar = await h.spawn()
    await liar.libp2p.unhandle(SWARM_PROTOCOL)
    const { frames } = await handPeer(liar, leecher, manifest, { bitfield: fullBitfield(manifest) })
    await until(() => leecher.status().swarms[0]?.peers.length === 1, 10_000)

    // the reader skips to the last chunk: that peer is asked, stalls, and the origin serves it.
    // Before the fix the stalled peer was asked again at once (its snub ignored for readers)
    // and the origin never, since "a peer holds it": the read hung for as long as it stayed.
    const last = manifest.chunks.length - 1
    const tail = await readRange(
      leecher,
      cid,
      last * TEST_CHUNK_SIZE,
      bytes.byteLength - 1,
      AbortSignal.timeout(15_000),
    )
    expect(tail.equals(Buffer.from(bytes.subarray(last * TEST_CHUNK_SIZE)))).toBe(true)
    expect(frames.some((f) => f.type === FrameType.Request && f.index === last)).toBe(true)
    expect(leecher.status().totals.bytesFromPeers).toBe(0)
  })
})
