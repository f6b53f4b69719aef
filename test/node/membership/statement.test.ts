/**
 * The tracker's statement of a node's campus and city (`node/membership.ts`): believed only
 * when it is about the peer that shows it, signed by a trusted tracker, and unexpired.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { Ed25519Signer } from '../../../node/ed25519.ts'
import { checkMembership, MEMBERSHIP_TTL_MS, MembershipSigner } from '../../../node/membership.ts'

async function tracker(): Promise<MembershipSigner> {
  return new MembershipSigner(new Ed25519Signer(await generateKeyPair('Ed25519')))
}
async function peerId(): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('a membership statement', () => {
  it('is believed for its own peer, from a trusted tracker, until it expires', async () => {
    const t = await tracker()
    const peer = await peerId()
    const now = Date.now()
    const s = t.sign({ peerId: peer, nodeId: 'bj-1-n1', campus: 'bj-1', city: 'bj' }, now)
    const trusted = new Set([t.tracker])
    const ok = checkMembership(s, { peerId: peer, trusted, now })
    expect(ok).toMatchObject({ ok: true, membership: { campus: 'bj-1', city: 'bj', nodeId: 'bj-1-n1' } })
    // through JSON, as it travels in a hello
    expect(checkMembership(JSON.parse(JSON.stringify(s)), { peerId: peer, trusted, now }).ok).toBe(true)
    expect(checkMembership(s, { peerId: peer, trusted, now: now + MEMBERSHIP_TTL_MS })).toEqual({
      ok: false,
      why: 'expired',
    })
  })

  it('is not believed shown by another peer, from a tracker not trusted, or changed', async () => {
    const t = await tracker()
    const other = await tracker()
    const peer = await peerId()
    const s = t.sign({ peerId: peer, nodeId: 'n1', campus: 'bj-1', city: 'bj' })
    const trusted = new Set([t.tracker])
    // a copy of another node's statement
    expect(checkMembership(s, { peerId: await peerId(), trusted })).toEqual({ ok: false, why: 'other-peer' })
    // a statement a node signed for itself, or any tracker but the ones trusted
    const own = other.sign({ peerId: peer, nodeId: 'n1', campus: 'bj-1', city: 'bj' })
    expect(checkMembership(own, { peerId: peer, trusted })).toEqual({ ok: false, why: 'untrusted' })
    // its campus changed after signing
    const moved = { ...s, m: { ...s.m, campus: 'bj-2' } }
    expect(checkMembership(moved, { peerId: peer, trusted })).toEqual({ ok: false, why: 'bad-signature' })
    // its expiry pushed back
    const longer = { ...s, m: { ...s.m, expiresAt: s.m.expiresAt + 1 } }
    expect(checkMembership(longer, { peerId: peer, trusted })).toEqual({ ok: false, why: 'bad-signature' })
    for (const junk of [null, 'x', [], { m: s.m }, { m: { ...s.m, campus: 'c'.repeat(500) }, sig: s.sig }])
      expect(checkMembership(junk, { peerId: peer, trusted })).toEqual({ ok: false, why: 'malformed' })
  })
})
