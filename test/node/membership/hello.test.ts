/** The swarm hello carries a tracker's statement (`member`); one that cannot be read is left out, not a fault. */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import { Ed25519Signer } from '../../../node/ed25519.ts'
import { MembershipSigner } from '../../../node/membership.ts'
import { encodeHello, type Frame, FrameDecoder, FrameType, type Hello } from '../../../node/swarm/codec.ts'

function decode(bytes: Uint8Array): Hello {
  const frames: Frame[] = []
  const d = new FrameDecoder({ maxChunkBytes: 0, maxManifestBytes: 0 })
  d.helloFirst = true
  d.feed(bytes, (f) => frames.push(f))
  const [f] = frames
  if (f?.type !== FrameType.Hello) throw new Error('no hello')
  return f.hello
}

describe('a swarm hello', () => {
  it('carries the statement as signed, and drops one it cannot read', async () => {
    const tracker = new MembershipSigner(new Ed25519Signer(await generateKeyPair('Ed25519')))
    const member = tracker.sign({ peerId: 'p', nodeId: 'n', campus: 'bj-1', city: 'bj' })
    const base = { v: 1, manifest: 'm', role: 'campus' as const, campus: 'bj-1', city: 'bj' }
    expect(decode(encodeHello({ ...base, member })).member).toEqual(member)
    const junk = decode(encodeHello({ ...base, member: { m: 'x', sig: 1 } as never }))
    expect(junk).toMatchObject({ campus: 'bj-1', city: 'bj' })
    expect(junk.member).toBeUndefined()
  })
})
