/**
 * Offers of a super-seeding node (the origin's seeder) that their peer does not take:
 * withdrawn and made to someone else. With a real super-seeding node, a real leecher and
 * peers that speak the protocol by hand.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { SWARM_PROTOCOL } from '../../../node/node-constants.ts'
import { type Frame, FrameType } from '../../../node/swarm/codec.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'
import { chunkFrame, handPeer } from './hand-peer.ts'
import { indexFrame } from './raw-frames.ts'

/** The chunks a super-seeder offered (one HAVE each), in order. */
const offers = (frames: Frame[]): number[] =>
  frames.flatMap((f) => (f.type === FrameType.Have ? [f.index] : []))

describe('super-seeding offers nobody takes', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('offers a peer other chunks once it announces those it was offered (it got them elsewhere)', async () => {
    const bytes = randomContent(2 * 1024 * 1024)
    const seeder = await h.spawn({ superSeed: true })
    const manifest = await addContent(seeder.store, bytes, await originKey())
    await seeder.seed(manifest)
    const peer = await h.spawn()
    await peer.libp2p.unhandle(SWARM_PROTOCOL)
    const { frames, send } = await handPeer(peer, seeder, manifest)
    await until(() => offers(frames).length === 2, 10_000)
    // another peer delivered them first: it says so instead of asking the seeder
    const first = offers(frames)
    for (const i of first) send(indexFrame(FrameType.Have, i))
    // before the fix both offers stayed its own for ever, and nothing more was offered
    await until(() => offers(frames).length === 4, 10_000)
    const next = offers(frames).slice(2)
    expect(next.some((i) => first.includes(i))).toBe(false)
    // and it is served what it is offered now
    send(indexFrame(FrameType.Request, next[0]))
    await until(() => frames.some((f) => f.type === FrameType.Chunk && f.index === next[0]), 10_000)
    const chunk = frames.find((f) => f.type === FrameType.Chunk && f.index === next[0])
    expect(
      chunk?.type === FrameType.Chunk &&
        Buffer.from(chunkFrame(bytes, next[0]).subarray(9)).equals(Buffer.from(chunk.bytes)),
    ).toBe(true)
  })

  it('gives the chunks offered to a peer that never asks for them to a leecher, which completes', async () => {
    const bytes = randomContent(2 * 1024 * 1024)
    // a short stall period: an offer untaken that long goes to someone else
    const seeder = await h.spawn({ superSeed: true, peerStallMs: 500 })
    const manifest = await addContent(seeder.store, bytes, await originKey())
    await seeder.seed(manifest)
    // a peer that says hello and asks for nothing (a node only streaming asks only for what
    // its readers need): it is offered two chunks first
    const idle = await h.spawn()
    await idle.libp2p.unhandle(SWARM_PROTOCOL)
    const { frames } = await handPeer(idle, seeder, manifest)
    await until(() => offers(frames).length === 2, 10_000)

    // a leecher with no origin to fall back on: the seeder is its only source
    const leecher = await h.spawn()
    await h.connect(leecher, seeder)
    // before the fix the two chunks were never offered to anyone else: this timed out
    await leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(20_000) })
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
  })
})
