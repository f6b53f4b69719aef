/**
 * Framing of `/dandelion/swarm/1.0.0`. Every frame is
 * `u32 big-endian length | u8 type | payload`, where length counts the type byte and
 * the payload. Each type has its own size rule; a frame that breaks one is a protocol
 * error, and the session closes that stream (the node keeps serving everyone else).
 *
 * This file encodes frames and is the protocol's public face; beside it sit the frame
 * types and their size rules (`frames.ts`), the incremental decoder (`frame-decoder.ts`)
 * and the hello and its checks (`hello.ts`).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_HELLO_JSON_BYTES } from '../node-constants.ts'
import { ProtocolError } from './errors.ts'
import { FrameType } from './frames.ts'
import type { Hello } from './hello.ts'

export { type ChunkAllocator, FrameDecoder } from './frame-decoder.ts'
export { type Frame, type FrameLimits, FrameType } from './frames.ts'
export type { Hello } from './hello.ts'

const encoder = new TextEncoder()

/** Writes `value` as a u32 big-endian at `offset`. */
function writeU32(buf: Uint8Array, offset: number, value: number): void {
  buf[offset] = value >>> 24
  buf[offset + 1] = value >>> 16
  buf[offset + 2] = value >>> 8
  buf[offset + 3] = value
}

// Bytes are written one by one, not through a DataView: asking a small Uint8Array for its
// `.buffer` makes V8 move it off the heap, which made every HAVE a node broadcasts cost
// about 1 µs (1% of a swarm-bench worker's CPU went to these headers).
function header(type: number, payloadLength: number, extra = 0): Uint8Array {
  const buf = new Uint8Array(5 + extra)
  writeU32(buf, 0, 1 + payloadLength)
  buf[4] = type
  return buf
}

/** Encodes a hello. */
export function encodeHello(hello: Hello): Uint8Array {
  const json = encoder.encode(JSON.stringify(hello))
  if (json.byteLength > MAX_HELLO_JSON_BYTES) throw new ProtocolError('hello too large')
  const out = header(FrameType.Hello, json.byteLength, json.byteLength)
  out.set(json, 5)
  return out
}

/** Encodes a frame whose payload is one u32 chunk index. */
export function encodeIndex(type: number, index: number): Uint8Array {
  const out = header(type, 4, 4)
  writeU32(out, 5, index)
  return out
}

/** Encodes a bitfield or manifest frame (payload copied once into the frame). */
export function encodeBytes(
  type: typeof FrameType.Bitfield | typeof FrameType.Manifest,
  bytes: Uint8Array,
): Uint8Array {
  const out = header(type, bytes.byteLength, bytes.byteLength)
  out.set(bytes, 5)
  return out
}

/** Encodes a chunk frame without copying the chunk: a 9-byte header plus the bytes. */
export function encodeChunk(index: number, bytes: Uint8Array): Uint8ArrayList {
  const head = header(FrameType.Chunk, 4 + bytes.byteLength, 4)
  writeU32(head, 5, index)
  return new Uint8ArrayList(head, bytes)
}
