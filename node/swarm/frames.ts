/**
 * The frames of `/dandelion/swarm/1.0.0`, what each carries and how large each may be:
 * what the encoder (`codec.ts`) and the decoder (`frame-decoder.ts`) both follow. Every
 * frame is `u32 big-endian length | u8 type | payload`, where length counts the type byte
 * and the payload.
 */
import { MAX_HELLO_BYTES, MAX_HELLO_JSON_BYTES } from '../node-constants.ts'
import { ProtocolError } from './errors.ts'
import type { Hello } from './hello.ts'

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

/** Limits the decoder enforces. */
export interface FrameLimits {
  /** Largest chunk payload accepted (the swarm's chunk size once known). */
  maxChunkBytes: number
  /** Largest manifest accepted. */
  maxManifestBytes: number
}

/**
 * Checks a frame's type and payload length against its type's size rule, on its header.
 * @throws ProtocolError when the frame breaks it
 */
export function checkLength(type: number, payload: number, limits: FrameLimits): void {
  const max =
    type === FrameType.Hello
      ? MAX_HELLO_JSON_BYTES
      : type === FrameType.Bitfield
        ? MAX_HELLO_BYTES
        : type === FrameType.Chunk
          ? 4 + limits.maxChunkBytes
          : type === FrameType.Manifest
            ? limits.maxManifestBytes
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
