/** Swarm protocol frames built by hand, for tests that play a peer breaking the rules. */
import { FrameType } from '../../../node/swarm/codec.ts'

export function helloFrame(manifest: string): Buffer {
  const hello = Buffer.from(JSON.stringify({ v: 1, manifest, role: 'campus' }))
  return Buffer.concat([u32(hello.byteLength + 1), Buffer.from([FrameType.Hello]), hello])
}

export function indexFrame(type: number, index: number): Buffer {
  return Buffer.concat([u32(5), Buffer.from([type]), u32(index)])
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}
