/**
 * A chunk whose request was withdrawn (a stall, endgame) may still arrive: kept if it is
 * still missing, verified like any other, dropped without fault if it is not. With a real
 * leecher node on loopback and seeders that speak the protocol by hand, holding each
 * request until it is cancelled and only then sending the chunk.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SWARM_PROTOCOL } from '../../../node/node-constants.ts'
import { FrameType } from '../../../node/swarm/codec.ts'
import { FrameRouter } from '../../../node/swarm/frame-router.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'
import { chunkFrame, fullBitfield, handPeer } from './hand-peer.ts'
import { indexFrame } from './raw-frames.ts'

describe('chunks that arrive after their request was withdrawn', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  /** A leecher fetching 1 MiB (four chunks), and a node whose swarm handler a test plays by hand. */
  async function setup(peerStallMs: number, handNodes = 1) {
    const bytes = randomContent(1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, await originKey())
    await seeder.libp2p.unhandle(SWARM_PROTOCOL)
    const others = []
    for (let n = 1; n < handNodes; n++) {
      const node = await h.spawn()
      await node.libp2p.unhandle(SWARM_PROTOCOL)
      others.push(node)
    }
    const leecher = await h.spawn({ peerStallMs })
    await leecher.store.put(manifest.cid, manifest.bytes)
    const abort = new AbortController()
    const fetched = leecher.fetch(manifest.cid, {
      signal: AbortSignal.any([abort.signal, AbortSignal.timeout(30_000)]),
    })
    fetched.catch(() => {}) // awaited (or aborted) by the test
    await until(() => leecher.status().swarms[0]?.chunksTotal === manifest.chunks.length, 10_000)
    return { bytes, manifest, seeder, others, leecher, fetched, abort }
  }

  it('keeps a chunk that arrives after a stall withdrew its request, instead of fetching it again', async () => {
    const { bytes, manifest, seeder, leecher, fetched } = await setup(300)
    const requests = new Map<number, number>()
    const held = new Set<number>()
    let sentLate = 0
    let bytesSent = 0
    const peer = await handPeer(seeder, leecher, manifest, {
      bitfield: fullBitfield(manifest),
      onFrame: (frame, send) => {
        if (frame.type === FrameType.Request) {
          const n = (requests.get(frame.index) ?? 0) + 1
          requests.set(frame.index, n)
          // the first request of a chunk is sat on until the leecher gives up on it; asked
          // again (the late copy was thrown away), it is answered at once
          if (n === 1) held.add(frame.index)
          else {
            const chunk = chunkFrame(bytes, frame.index)
            send(chunk)
            bytesSent += chunk.byteLength
          }
        }
        if (frame.type === FrameType.Cancel && held.delete(frame.index)) {
          // it was on its way
          const chunk = chunkFrame(bytes, frame.index)
          send(chunk)
          bytesSent += chunk.byteLength
          sentLate++
        }
      },
    })
    await fetched
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
    // every chunk was asked for once and crossed the wire once: before the fix each late
    // copy was dropped and the chunk requested (and sent) a second time
    expect([...requests.values()]).toEqual(manifest.chunks.map(() => 1))
    expect(sentLate).toBe(manifest.chunks.length)
    expect(bytesSent).toBe(manifest.chunks.reduce((n, _, i) => n + chunkFrame(bytes, i).byteLength, 0))
    const status = leecher.status()
    expect(status.totals.bytesFromPeers).toBe(manifest.size)
    expect(status.swarms[0].duplicateChunks).toBe(0)
    expect(status.bannedPeers).toBe(0)
    expect(peer.stream.status).toBe('open')
  })

  it('cancels the request it made of another peer once the late chunk is in', async () => {
    const { bytes, manifest, seeder, others, leecher, fetched } = await setup(1_000, 2)
    const requestsA = new Map<number, number>()
    const requestsB: number[] = []
    const cancelsB: number[] = []
    const held = new Set<number>()
    const withdrawn = new Set<number>()
    let sendA: (data: Uint8Array) => void = () => {}
    let sendB: (data: Uint8Array) => void = () => {}
    // A holds every chunk and sits on each request; answered again, it sends at once
    const a = await handPeer(seeder, leecher, manifest, {
      bitfield: fullBitfield(manifest),
      onFrame: (frame, send) => {
        if (frame.type === FrameType.Request) {
          const n = (requestsA.get(frame.index) ?? 0) + 1
          requestsA.set(frame.index, n)
          if (n === 1) held.add(frame.index)
          else send(chunkFrame(bytes, frame.index))
        }
        // stalled: its requests go elsewhere, and B turns out to hold those chunks
        if (frame.type === FrameType.Cancel && held.delete(frame.index)) {
          withdrawn.add(frame.index)
          sendB(indexFrame(FrameType.Have, frame.index))
        }
      },
    })
    sendA = a.send
    // B holds nothing at first and never sends a chunk: asked for one A was holding, A's
    // copy (on its way all along) arrives instead
    const b = await handPeer(others[0], leecher, manifest, {
      onFrame: (frame) => {
        if (frame.type === FrameType.Request) {
          requestsB.push(frame.index)
          if (withdrawn.delete(frame.index)) sendA(chunkFrame(bytes, frame.index))
        }
        if (frame.type === FrameType.Cancel) cancelsB.push(frame.index)
      },
    })
    sendB = b.send
    await fetched
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
    expect([...requestsA.values()]).toEqual(manifest.chunks.map(() => 1))
    // B was asked for each chunk A sat on, and each request cancelled once A's copy was in
    const sorted = (xs: number[]): number[] => xs.toSorted((x, y) => x - y)
    expect(sorted(requestsB)).toEqual(manifest.chunks.map((_, i) => i))
    await until(() => cancelsB.length === requestsB.length, 10_000)
    expect(sorted(cancelsB)).toEqual(sorted(requestsB))
    // cancelled because the chunk came, not because B stalled (which scores it down)
    const peerB = leecher.status().swarms[0].peers.find((p) => p.peer === others[0].peerId.toString())
    expect(peerB?.score).toBe(0)
    expect(leecher.status().totals.bytesFromPeers).toBe(manifest.size)
  })

  it('drops, without fault and unread, a late chunk another peer delivered meanwhile', async () => {
    const { bytes, manifest, seeder, others, leecher, fetched } = await setup(300, 2)
    const buffers = vi.spyOn(FrameRouter.prototype, 'chunkBuffer')
    const held = new Set<number>()
    const withdrawn = new Set<number>()
    const late = new Set<number>()
    let sentLate = 0
    let sendB: (data: Uint8Array) => void = () => {}
    // A sits on each request; withdrawn, it sends the chunk only once the leecher announces
    // it holds it (B sent it meanwhile)
    const a = await handPeer(seeder, leecher, manifest, {
      bitfield: fullBitfield(manifest),
      onFrame: (frame, send) => {
        if (frame.type === FrameType.Request) held.add(frame.index)
        if (frame.type === FrameType.Cancel && held.delete(frame.index)) {
          withdrawn.add(frame.index)
          sendB(indexFrame(FrameType.Have, frame.index))
        }
        if (frame.type === FrameType.Have && withdrawn.delete(frame.index)) {
          send(chunkFrame(bytes, frame.index))
          late.add(frame.index)
          sentLate++
        }
      },
    })
    // B holds what A sat on, and serves it at once
    const b = await handPeer(others[0], leecher, manifest, {
      onFrame: (frame, send) => {
        if (frame.type === FrameType.Request) send(chunkFrame(bytes, frame.index))
      },
    })
    sendB = b.send
    await fetched
    const duplicates = (): number => leecher.status().swarms[0].duplicateChunks
    await until(() => late.size === manifest.chunks.length && duplicates() === sentLate, 10_000)
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
    // one buffer per chunk kept (B's): A's late copies were skipped on their header
    expect(buffers).toHaveBeenCalledTimes(manifest.chunks.length)
    expect(leecher.status().bannedPeers).toBe(0)
    expect(a.stream.status).toBe('open')
    expect(leecher.status().totals.bytesFromPeers).toBe(manifest.size)
  })

  it('bans a peer whose late chunk fails verification', async () => {
    const { bytes, manifest, seeder, leecher, abort } = await setup(300)
    const held = new Set<number>()
    const peer = await handPeer(seeder, leecher, manifest, {
      bitfield: fullBitfield(manifest),
      onFrame: (frame, send) => {
        if (frame.type === FrameType.Request) held.add(frame.index)
        if (frame.type === FrameType.Cancel && held.delete(frame.index)) {
          // the right length, the wrong bytes
          const chunk = chunkFrame(bytes, frame.index).slice()
          chunk[chunk.byteLength - 1] ^= 0xff
          send(chunk)
        }
      },
    })
    // before the fix a late chunk was never read, so a corrupt one went unnoticed
    await until(() => leecher.status().bannedPeers === 1, 10_000)
    expect(leecher.status().totals.corruptChunks).toBeGreaterThan(0)
    expect(leecher.status().totals.bytesFromPeers).toBe(0)
    await until(() => peer.stream.status !== 'open', 10_000)
    abort.abort(new Error('test over'))
  })
})
