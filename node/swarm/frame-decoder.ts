/**
 * The decoding half of `/dandelion/swarm/1.0.0` (`frames.ts` has the format and its size
 * rules). Each frame is checked against its type's rule on its header, before a byte of
 * its payload is buffered; a frame that breaks one is a protocol error, and the session
 * closes that stream (the node keeps serving everyone else).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { MAX_FRAME_BYTES } from '../node-constants.ts'
import { ProtocolError } from './errors.ts'
import { checkLength, type Frame, type FrameLimits, FrameType } from './frames.ts'
import { parseHello } from './hello.ts'

/**
 * Where the decoder puts the bytes of chunk `index`: a buffer of exactly `size` bytes,
 * owned by the frame's receiver; or `undefined` to skip them as they arrive, unbuffered
 * (no frame is returned for that chunk). Called on the frame's 9-byte header; may throw
 * {@link ProtocolError} to refuse the frame there.
 */
export type ChunkAllocator = (size: number, index: number) => Uint8Array | undefined

const allocPlain: ChunkAllocator = (size) => new Uint8Array(size)

/**
 * Incremental decoder: feed it what the stream delivers, get whole frames back.
 * Throws {@link ProtocolError} on the first frame that breaks a rule.
 *
 * A chunk's bytes are copied once, as they arrive, straight into a buffer from the
 * allocator (which may be shared memory a hash worker reads in place): no reassembly
 * list, no second copy.
 */
export class FrameDecoder {
  private readonly buffer = new Uint8ArrayList()
  /**
   * The chunk frame being received: its header was read, its `size` bytes are arriving
   * (copied into `bytes`, or skipped when there is none).
   */
  private partial?: { index: number; bytes?: Uint8Array; size: number; filled: number }
  limits: FrameLimits
  alloc: ChunkAllocator
  /**
   * Refuse every frame but a hello until one arrives, on its header: "the dialer sends
   * HELLO" first. Checked on the 5-byte header, so a peer cannot make a stream that never
   * said hello buffer a manifest-sized frame (8 MiB) before it is refused.
   */
  helloFirst = false

  constructor(limits: FrameLimits, alloc: ChunkAllocator = allocPlain) {
    this.limits = limits
    this.alloc = alloc
  }

  /** Appends received bytes and returns every frame now complete. */
  push(data: Uint8Array | Uint8ArrayList): Frame[] {
    const frames: Frame[] = []
    this.feed(data, (frame) => frames.push(frame))
    return frames
  }

  /**
   * Appends received bytes and hands each frame to `emit` as soon as it is complete, before
   * the next one is parsed: what `emit` does to one frame (a hello naming the swarm, a
   * request released) is in force for the header of the next, even within one read.
   */
  feed(data: Uint8Array | Uint8ArrayList, emit: (frame: Frame) => void): void {
    if (data instanceof Uint8Array) this.pushPiece(data, emit)
    else for (const piece of data) this.pushPiece(piece, emit)
  }

  private pushPiece(piece: Uint8Array, emit: (frame: Frame) => void): void {
    let offset = 0
    while (offset < piece.byteLength) {
      const p = this.partial
      if (p === undefined) {
        this.buffer.append(offset === 0 ? piece : piece.subarray(offset))
        this.parse(emit)
        return
      }
      const n = Math.min(piece.byteLength - offset, p.size - p.filled)
      p.bytes?.set(n === piece.byteLength ? piece : piece.subarray(offset, offset + n), p.filled)
      p.filled += n
      offset += n
      if (p.filled === p.size) {
        this.partial = undefined
        if (p.bytes !== undefined) emit({ type: FrameType.Chunk, index: p.index, bytes: p.bytes })
      }
    }
  }

  private parse(emit: (frame: Frame) => void): void {
    while (this.buffer.byteLength >= 4) {
      const length = this.buffer.getUint32(0)
      // "every frame size-limited": refuse before buffering a single byte of it
      if (length === 0 || length > MAX_FRAME_BYTES)
        throw new ProtocolError(`frame length ${length} out of bounds`)
      if (this.buffer.byteLength < 5) return
      const type = this.buffer.get(4)
      if (this.helloFirst && type !== FrameType.Hello) throw new ProtocolError('first frame must be a hello')
      checkLength(type, length - 1, this.limits)
      if (type === FrameType.Chunk) {
        if (this.buffer.byteLength < 9) return
        const index = this.buffer.getUint32(5)
        const size = length - 5
        const bytes = this.alloc(size, index)
        const have = Math.min(this.buffer.byteLength - 9, size)
        if (bytes !== undefined) copyOut(this.buffer, 9, have, bytes)
        this.buffer.consume(9 + have)
        if (have < size) {
          // the buffer is empty now: what follows goes straight into the chunk (or is skipped)
          this.partial = { index, bytes, size, filled: have }
          return
        }
        if (bytes !== undefined) emit({ type, index, bytes })
        continue
      }
      if (this.buffer.byteLength < 4 + length) return
      const payload = this.buffer.subarray(5, 4 + length)
      this.buffer.consume(4 + length)
      const frame = this.decode(type, payload)
      if (type === FrameType.Hello) this.helloFirst = false
      emit(frame)
    }
  }

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    const p = this.partial
    return this.buffer.byteLength + (p?.bytes === undefined ? 0 : p.filled)
  }

  private decode(type: number, payload: Uint8Array): Frame {
    switch (type) {
      case FrameType.Hello:
        return { type, hello: parseHello(payload) }
      case FrameType.Bitfield:
        return { type, bits: payload }
      case FrameType.Manifest:
        return { type, bytes: payload }
      default:
        return { type: type as typeof FrameType.Have, index: readU32(payload) }
    }
  }
}

/** Copies `length` bytes of `list` from `start` into `target`, without joining the list. */
function copyOut(list: Uint8ArrayList, start: number, length: number, target: Uint8Array): void {
  let skip = start
  let at = 0
  for (const buf of list) {
    if (at === length) return
    if (skip >= buf.byteLength) {
      skip -= buf.byteLength
      continue
    }
    const n = Math.min(buf.byteLength - skip, length - at)
    target.set(skip === 0 && n === buf.byteLength ? buf : buf.subarray(skip, skip + n), at)
    at += n
    skip = 0
  }
}

function readU32(b: Uint8Array): number {
  // byte by byte, like writeU32: no DataView over a payload that may be a small on-heap array
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0
}
