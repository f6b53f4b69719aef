import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../node/swarm/bitfield.ts'
import type { PeerSession } from '../../../node/swarm/session.ts'
import { SuperSeeder } from '../../../node/swarm/super-seed.ts'

/** What the super-seeder reads and calls of a session: its offers, hello, bits and HAVEs. */
class Peer {
  readonly offered = new Set<number>()
  readonly hello = { v: 1, manifest: 'm', role: 'campus' as const }
  readonly bits: Bitfield
  closed = false
  constructor(size: number) {
    this.bits = new Bitfield(size)
  }
  queuedUploads = 0
  servingUploads = 0
  sendIndex(): void {}
}

/**
 * Every peer asks for each chunk it is offered and gets it from the origin alone (no peer
 * exchange), one send at a time, the peer with the oldest offer first; returns how many
 * chunks the origin sent.
 */
function drain(seeder: SuperSeeder, peers: Peer[], availability: Uint16Array): number {
  let sends = 0
  for (let round = 0; round < 10_000; round++) {
    const peer = peers[round % peers.length]
    const index = peer.offered.values().next().value
    if (index === undefined) {
      if (peers.every((p) => p.offered.size === 0)) return sends
      continue
    }
    seeder.sent(peer as unknown as PeerSession, index)
    sends++
    if (peer.bits.set(index)) availability[index]++
  }
  return sends
}

describe('super-seeding', () => {
  it('sends every chunk once and no more second copies than its budget, however many peers have free offers', () => {
    const size = 100
    const availability = new Uint16Array(size)
    const peers = Array.from({ length: 20 }, () => new Peer(size))
    const seeder = new SuperSeeder(
      { size, availability, sessions: peers as unknown as PeerSession[] },
      { offersPerPeer: 2, extraRatio: 0.03 },
    )
    seeder.offerAll()
    const sends = drain(seeder, peers, availability)
    for (let i = 0; i < size; i++) expect(availability[i]).toBeGreaterThan(0)
    // 3% of 100 chunks: three second copies at most, where 20 peers with two free offer
    // slots each could otherwise be offered a second copy all at once
    expect(sends).toBeGreaterThanOrEqual(size)
    expect(sends).toBeLessThanOrEqual(size + 3)
  })

  it('gives an unused second copy back to the budget when its peer leaves', () => {
    const size = 10
    const availability = new Uint16Array(size)
    const [a, b] = [new Peer(size), new Peer(size)]
    const sessions = [a]
    const seeder = new SuperSeeder(
      { size, availability, sessions: sessions as unknown as PeerSession[] },
      { offersPerPeer: 1, extraRatio: 0.1 },
    )
    seeder.offerAll()
    expect(drain(seeder, [a], availability)).toBe(size)
    // every chunk is out and a holds them all: b joins and is offered the one second copy
    sessions.push(b)
    seeder.offerAll()
    expect(b.offered.size).toBe(1)
    // b leaves before asking for it; the copy is offered to the next peer instead
    b.closed = true
    sessions.pop()
    seeder.closed(b as unknown as PeerSession)
    const c = new Peer(size)
    sessions.push(c)
    seeder.offerAll()
    expect(c.offered.size).toBe(1)
    expect(drain(seeder, [c], availability)).toBe(1)
  })

  it('serves a late request for an offer its peer let go once: whoever was offered the chunk since is offered another', async () => {
    const size = 3
    const availability = new Uint16Array(size)
    const [a, b] = [new Peer(size), new Peer(size)]
    const seeder = new SuperSeeder(
      { size, availability, sessions: [a, b] as unknown as PeerSession[] },
      { offersPerPeer: 1, offerTimeoutMs: 10 },
    )
    seeder.offerAll()
    const [first] = a.offered
    // b asks for its offer (queued), a asks for nothing: a's offer lapses
    b.queuedUploads = 1
    await new Promise((r) => setTimeout(r, 20))
    seeder.offerAll()
    expect(a.offered.has(first)).toBe(false)
    // b is sent its chunk and offered the one a let go
    b.queuedUploads = 0
    seeder.sent(b as unknown as PeerSession, [...b.offered][0])
    expect(b.offered.has(first)).toBe(true)
    // a's request, which waited behind its own download limit, comes in after all: served,
    // and b no longer holds an offer of it (it would ask too, and the origin send it twice)
    expect(seeder.mayServe(a as unknown as PeerSession, first)).toBe(true)
    seeder.sent(a as unknown as PeerSession, first)
    expect(seeder.mayServe(b as unknown as PeerSession, first)).toBe(false)
  })
})
