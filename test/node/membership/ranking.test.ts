/**
 * The scheduler asks peers in the order `rankPeers` gives: its own campus, its city, the
 * rest. With a trusted tracker, a peer's place is its statement's (`Locality.of`): a peer
 * claiming the campus without one is asked after a proven peer of the city.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { Ed25519Signer } from '../../../node/ed25519.ts'
import { MEMBERSHIP_TTL_MS, MembershipSigner, type SignedMembership } from '../../../node/membership.ts'
import { Locality } from '../../../node/swarm/locality.ts'
import { rankPeers } from '../../../node/swarm/schedule-policy.ts'

const id = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()

describe('ranking peers by where they are', () => {
  it('puts a proven peer of the city before one that only claims the campus, once a tracker is trusted', async () => {
    const tracker = new MembershipSigner(new Ed25519Signer(await generateKeyPair('Ed25519')))
    let now = Date.now()
    const self = await id()
    const locality = new Locality({
      peerId: self,
      role: 'campus',
      campus: 'bj-1',
      city: 'bj',
      now: () => now,
    })
    const [cityPeer, claimer, campusPeer] = [await id(), await id(), await id()]
    const statement = (peer: string, campus: string): SignedMembership =>
      tracker.sign({ peerId: peer, nodeId: peer.slice(-6), campus, city: 'bj' }, now)
    const peers = [
      { peer: claimer, hello: { campus: 'bj-1', city: 'bj' }, score: 9 },
      {
        peer: cityPeer,
        hello: { campus: 'bj-2', city: 'bj', member: statement(cityPeer, 'bj-2') },
        score: 0,
      },
      {
        peer: campusPeer,
        hello: { campus: 'bj-1', city: 'bj', member: statement(campusPeer, 'bj-1') },
        score: 0,
      },
    ]
    const order = (): string[] =>
      rankPeers(peers, locality.place(), (p) => locality.of(p.peer, p.hello)).map((p) => p.peer)
    // no tracker trusted yet: claims count, and the claimer's better score puts it first
    expect(order()).toEqual([claimer, campusPeer, cityPeer])
    // its own statement makes its tracker trusted
    expect(locality.setMembership(statement(self, 'bj-1'))).toBe(true)
    expect(locality.strict).toBe(true)
    expect(order()).toEqual([campusPeer, cityPeer, claimer])
    // statements expire: then none is believed, and no claim either
    now += MEMBERSHIP_TTL_MS
    expect(locality.of(campusPeer, peers[2].hello)).toEqual({ proven: false })
    expect(locality.place()).toEqual({ campus: 'bj-1', city: 'bj' })
  })
})
