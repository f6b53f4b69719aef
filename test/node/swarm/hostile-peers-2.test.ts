import type { Stream } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import {
  MAX_PROTOCOL_OFFENSES,
  MAX_UNSOLICITED_CHUNKS,
  SWARM_PROTOCOL,
} from '../../../node/node-constants.ts'
import { Bans } from '../../../node/swarm/bans.ts'
import { encodeBytes, encodeChunk, type Frame, FrameDecoder, FrameType } from '../../../node/swarm/codec.ts'
import { FrameRouter } from '../../../node/swarm/frame-router.ts'
import { SwarmNetwork } from '../../../node/swarm/network.ts'
import {
  addContent,
  Harness,
  originKey,
  randomContent,
  readAll,
  TEST_CHUNK_SIZE,
  until,
} from '../utils/harness.ts'
import { helloFrame, indexFrame } from './raw-frames.ts'

describe('peers that abuse the swarm protocol: chunks and hellos', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  it('bans a peer that keeps sending chunks for indexes past the end of the manifest', async () => {
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, randomContent(1024 * 1024), await originKey())
    await seeder.seed(manifest)
    const attacker = await h.spawn()
    // before the fix each was allocated, then refused inside an async path: only logged,
    // no offense, and the stream stayed open for more
    for (let n = 0; n < MAX_PROTOCOL_OFFENSES; n++) {
      const { stream } = await greet(attacker, seeder, manifest)
      stream.send(encodeChunk(manifest.chunks.length + n, new Uint8Array(TEST_CHUNK_SIZE)).subarray())
      await until(() => stream.status !== 'open', 10_000)
    }
    await until(() => seeder.status().bannedPeers === 1, 10_000)
  })

  it('skips chunks nobody asked for on their header, without a buffer, and closes a stream that keeps sending them', async () => {
    const bytes = randomContent(1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, await originKey())
    await seeder.seed(manifest)
    const attacker = await h.spawn()
    const buffers = vi.spyOn(FrameRouter.prototype, 'chunkBuffer')
    const { stream, frames } = await greet(attacker, seeder, manifest)
    const chunk = (i: number): Uint8Array => bytes.subarray(i * TEST_CHUNK_SIZE, (i + 1) * TEST_CHUNK_SIZE)
    // the allowance for races: whole, valid chunks the seeder never asked for, split mid-frame
    for (let n = 0; n < MAX_UNSOLICITED_CHUNKS; n++) {
      const frame = encodeChunk(n % manifest.chunks.length, chunk(n % manifest.chunks.length)).subarray()
      stream.send(frame.subarray(0, 1000))
      stream.send(frame.subarray(1000))
    }
    // their bytes were skipped exactly: the request behind them is read and answered
    stream.send(indexFrame(FrameType.Request, 2))
    await until(() => frames.some((f) => f.type === FrameType.Chunk && f.index === 2), 10_000)
    expect(stream.status).toBe('open')
    // one more is a protocol violation
    stream.send(encodeChunk(1, chunk(1)).subarray())
    await until(() => stream.status !== 'open', 10_000)
    // before the fix every one of them got a chunk buffer and a copy, and the stream stayed open
    expect(buffers).not.toHaveBeenCalled()
    expect(seeder.status().swarms[0].peers).toHaveLength(0)
  })

  it('takes chunks that were on their way when their requests were cancelled without holding it against the peer', async () => {
    const bytes = randomContent(4 * 1024 * 1024)
    const seeder = await h.spawn()
    const manifest = await addContent(seeder.store, bytes, await originKey())
    // this peer speaks the protocol by hand: its node's own handler is taken away
    await seeder.libp2p.unhandle(SWARM_PROTOCOL)
    const leecher = await h.spawn({ peerStallMs: 200 })
    await leecher.store.put(manifest.cid, manifest.bytes)
    const fetched = leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(30_000) })
    await until(() => leecher.status().swarms[0]?.chunksTotal === manifest.chunks.length, 10_000)

    // it sits on each request until the leecher stalls it and cancels, then sends the chunk
    // anyway (it was "on its way"), more times than the allowance for unasked chunks; once
    // it has, it serves requests as they come
    const late = MAX_UNSOLICITED_CHUNKS + 2
    let sentLate = 0
    const held = new Set<number>()
    const { stream } = await greet(seeder, leecher, manifest, {
      bitfield: new Uint8Array(Math.ceil(manifest.chunks.length / 8)).fill(0xff),
      onFrame: (frame, send) => {
        const chunk = (i: number): Uint8Array =>
          encodeChunk(i, bytes.subarray(i * TEST_CHUNK_SIZE, (i + 1) * TEST_CHUNK_SIZE)).subarray()
        if (frame.type === FrameType.Request) {
          if (sentLate < late) held.add(frame.index)
          else send(chunk(frame.index))
        }
        if (frame.type === FrameType.Cancel && held.delete(frame.index)) {
          send(chunk(frame.index))
          sentLate++
        }
      },
    })
    await fetched
    expect(sentLate).toBeGreaterThanOrEqual(late)
    expect(Buffer.from(await readAll(leecher, manifest)).equals(Buffer.from(bytes))).toBe(true)
    expect(stream.status).toBe('open')
    expect(leecher.status().bannedPeers).toBe(0)
    expect(leecher.status().totals.bytesFromPeers).toBe(manifest.size)
  })

  it('reads the frame after a skipped chunk intact, however the bytes are split', () => {
    const chunk = encodeChunk(3, randomContent(1000)).subarray()
    const wire = Buffer.concat([chunk, indexFrame(FrameType.Have, 7)])
    for (let cut = 1; cut < wire.byteLength; cut += 97) {
      const allocated: number[] = []
      const decoder = new FrameDecoder({ maxChunkBytes: 1000, maxManifestBytes: 0 }, (_size, index) => {
        allocated.push(index)
        return undefined
      })
      const frames = [...decoder.push(wire.subarray(0, cut)), ...decoder.push(wire.subarray(cut))]
      expect(allocated).toEqual([3])
      expect(frames).toEqual([{ type: FrameType.Have, index: 7 }])
      expect(decoder.pending).toBe(0)
    }
  })

  it('closes streams that say no hello by the deadline, and bans a peer that keeps half a hello in them', async () => {
    const victim = await h.spawn()
    const manifest = await addContent(victim.store, randomContent(1024), await originKey())
    // the same handler the node runs, with a deadline a test need not wait 10 s for
    await victim.libp2p.unhandle(SWARM_PROTOCOL)
    const bans = new Bans()
    const network = new SwarmNetwork(victim.libp2p, logger('dandelion:test:hello-deadline'), {
      bans,
      helloTimeoutMs: 100,
    })
    await network.start()
    try {
      const attacker = await h.spawn()
      // streams that send nothing: closed, but no offense (an honest peer may stall)
      const silent: Stream[] = []
      for (let n = 0; n <= MAX_PROTOCOL_OFFENSES; n++)
        silent.push(await attacker.libp2p.dialProtocol(victim.multiaddrs[0], SWARM_PROTOCOL))
      // before the fix they stayed open for as long as the connection did
      await until(() => silent.every((s) => s.status !== 'open'), 10_000)
      expect(bans.has(attacker.peerId.toString())).toBe(false)
      // half a hello held past the deadline: an offense each, the third bans
      for (let n = 0; n < MAX_PROTOCOL_OFFENSES; n++) {
        const stream = await attacker.libp2p.dialProtocol(victim.multiaddrs[0], SWARM_PROTOCOL)
        stream.send(helloFrame(manifest.cid.toString()).subarray(0, 20))
        await until(() => stream.status !== 'open', 10_000)
      }
      await until(() => bans.has(attacker.peerId.toString()), 10_000)
    } finally {
      await network.stop()
    }
  })
})

/**
 * Opens a swarm stream from `from` to `to` by hand, says hello for `manifest` and waits for
 * the answer (hello and bitfield; the manifest first if `to` asks for it). `onFrame` sees
 * every frame after that, with a way to answer.
 */
async function greet(
  from: DandelionNode,
  to: DandelionNode,
  manifest: Manifest,
  init: { bitfield?: Uint8Array; onFrame?: (frame: Frame, send: (data: Uint8Array) => void) => void } = {},
): Promise<{ stream: Stream; frames: Frame[] }> {
  const stream = await from.libp2p.dialProtocol(to.multiaddrs[0], SWARM_PROTOCOL)
  const frames: Frame[] = []
  const decoder = new FrameDecoder({ maxChunkBytes: TEST_CHUNK_SIZE, maxManifestBytes: 8 * 1024 * 1024 })
  const send = (data: Uint8Array): void => {
    stream.send(data)
  }
  stream.addEventListener('message', (evt) => {
    for (const frame of decoder.push(evt.data)) {
      frames.push(frame)
      if (frame.type === FrameType.Hello && frame.hello.wantManifest === true)
        send(encodeBytes(FrameType.Manifest, manifest.bytes))
      init.onFrame?.(frame, send)
    }
  })
  const hello = helloFrame(manifest.cid.toString())
  send(
    init.bitfield === undefined
      ? hello
      : Buffer.concat([hello, encodeBytes(FrameType.Bitfield, init.bitfield)]),
  )
  await until(() => frames.some((f) => f.type === FrameType.Bitfield), 10_000)
  return { stream, frames }
}
