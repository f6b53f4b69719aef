/**
 * A peer that speaks the swarm protocol by hand over a real libp2p stream, for tests that
 * need a peer to hold requests, answer late or break the rules on cue.
 */
import type { Stream } from '@libp2p/interface'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { SWARM_PROTOCOL } from '../../../node/node-constants.ts'
import { encodeBytes, encodeChunk, type Frame, FrameDecoder, FrameType } from '../../../node/swarm/codec.ts'
import { TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { helloFrame } from './raw-frames.ts'

/** Options of {@link handPeer}. */
export interface HandPeerInit {
  /** What the peer says it holds. @default nothing */
  bitfield?: Uint8Array
  /** Sees every frame from the other side after the greeting, with a way to answer. */
  onFrame?: (frame: Frame, send: (data: Uint8Array) => void) => void
}

/** A hand-driven peer: its stream, the frames it received and a way to send more. */
export interface HandPeer {
  stream: Stream
  frames: Frame[]
  send(data: Uint8Array): void
}

/**
 * Opens a swarm stream from `from` (whose own swarm handler the caller has taken away) to
 * `to`, says hello for `manifest` and waits for the answer (hello and bitfield; the
 * manifest first if `to` asks for it).
 */
export async function handPeer(
  from: DandelionNode,
  to: DandelionNode,
  manifest: Manifest,
  init: HandPeerInit = {},
): Promise<HandPeer> {
  const stream = await from.libp2p.dialProtocol(to.multiaddrs[0], SWARM_PROTOCOL)
  const frames: Frame[] = []
  const decoder = new FrameDecoder({ maxChunkBytes: TEST_CHUNK_SIZE, maxManifestBytes: 8 * 1024 * 1024 })
  const send = (data: Uint8Array): void => {
    // the other side may have closed the stream (a ban) while a test still answers
    if (stream.writeStatus === 'writable') stream.send(data)
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
  const bitfield = init.bitfield ?? new Uint8Array(Math.ceil(manifest.chunks.length / 8))
  send(Buffer.concat([hello, encodeBytes(FrameType.Bitfield, bitfield)]))
  await until(() => frames.some((f) => f.type === FrameType.Bitfield), 10_000)
  return { stream, frames, send }
}

/** A bitfield holding every chunk of `manifest`. */
export function fullBitfield(manifest: Manifest): Uint8Array {
  const bits = new Uint8Array(Math.ceil(manifest.chunks.length / 8))
  for (let i = 0; i < manifest.chunks.length; i++) bits[i >> 3] |= 0x80 >> (i & 7)
  return bits
}

/** The chunk frame of chunk `index` of `bytes`. */
export function chunkFrame(bytes: Uint8Array, index: number): Uint8Array {
  return encodeChunk(index, bytes.subarray(index * TEST_CHUNK_SIZE, (index + 1) * TEST_CHUNK_SIZE)).subarray()
}
