/**
 * Framing of `/dandelion/swarm/1.0.0`. Every frame is
 * `u32 big-endian length | u8 type | payload`, where length counts the type byte and
 * the payload. Each type has its own size rule; a frame that breaks one is a protocol
 * error, and the session closes that stream (the node keeps serving everyone else).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { parseMembership, type SignedMembership } from '../membership.ts'
import { MAX_FRAME_BYTES, MAX_HELLO_BYTES, MAX_HELLO_JSON_BYTES } from '../node-constants.ts'
import { ProtocolError } from './errors.ts'

/** Frame types. */
export const FrameType = {
  Hello: 0,
  Bitfield: 1,
  Have: 2,
  Request: 3,
  Cancel: 4,
  Chunk: 5,
  DontHave: 6,
  Manifest: 7,
} as const

/** What a peer says about itself when it opens or answers a swarm stream. */
export interface Hello {
  /** Wire version; must equal ours. */
  v: number
  /** Manifest CID of the swarm. */
  manifest: string
  role: 'campus' | 'device' | 'origin'
  campus?: string
  city?: string
  /**
   * A tracker's signed statement of the sender's campus and city (`node/membership.ts`):
   * what a peer that trusts that tracker believes instead of `campus` and `city`.
   */
  member?: SignedMembership
  /** The sender asks for the manifest bytes. */
  wantManifest?: boolean
}

/** A decoded frame. */
export type Frame =
  | { type: typeof FrameType.Hello; hello: Hello }
  | { type: typeof FrameType.Bitfield; bits: Uint8Array }
  | {
      type:
        | typeof FrameType.Have
        | typeof FrameType.Request
        | typeof FrameType.Cancel
        | typeof FrameType.DontHave
      index: number
    }
  | { type: typeof FrameType.Chunk; index: number; bytes: Uint8Array }
  | { type: typeof FrameType.Manifest; bytes: Uint8Array }

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

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

/** Limits the decoder enforces. */
export interface FrameLimits {
  /** Largest chunk payload accepted (the swarm's chunk size once known). */
  maxChunkBytes: number
  /** Largest manifest accepted. */
  maxManifestBytes: number
}

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
      this.checkLength(type, length - 1)
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

  private checkLength(type: number, payload: number): void {
    const max =
      type === FrameType.Hello
        ? MAX_HELLO_JSON_BYTES
        : type === FrameType.Bitfield
          ? MAX_HELLO_BYTES
          : type === FrameType.Chunk
            ? 4 + this.limits.maxChunkBytes
            : type === FrameType.Manifest
              ? this.limits.maxManifestBytes
              : 4
    if (type > FrameType.Manifest) throw new ProtocolError(`unknown frame type ${type}`)
    if (payload > max) throw new ProtocolError(`frame type ${type} of ${payload} bytes exceeds ${max}`)
    const fixed =
      type === FrameType.Have ||
      type === FrameType.Request ||
      type === FrameType.Cancel ||
      type === FrameType.DontHave
    if (fixed && payload !== 4) throw new ProtocolError(`frame type ${type} must carry 4 bytes`)
    if (type === FrameType.Chunk && payload < 4) throw new ProtocolError('chunk frame without index')
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

function parseHello(payload: Uint8Array): Hello {
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(payload))
  } catch {
    throw new ProtocolError('hello is not JSON')
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ProtocolError('hello must be an object')
  const h = raw as Record<string, unknown>
  const str = (v: unknown, max: number): boolean =>
    v === undefined || (typeof v === 'string' && v.length <= max)
  if (typeof h.v !== 'number' || typeof h.manifest !== 'string' || h.manifest.length > 200) {
    throw new ProtocolError('hello lacks version or manifest')
  }
  if (h.role !== 'campus' && h.role !== 'device' && h.role !== 'origin')
    throw new ProtocolError('hello has a bad role')
  if (!str(h.campus, 200) || !str(h.city, 200)) throw new ProtocolError('hello has a bad campus or city')
  if (h.wantManifest !== undefined && typeof h.wantManifest !== 'boolean')
    throw new ProtocolError('hello has a bad wantManifest')
  return {
    v: h.v,
    manifest: h.manifest,
    role: h.role,
    campus: h.campus as string | undefined,
    city: h.city as string | undefined,
    // one it cannot read proves nothing, and costs the peer nothing more: it is left out
    ...(h.member === undefined ? {} : { member: parseMembership(h.member) }),
    wantManifest: h.wantManifest as boolean | undefined,
  }
}
