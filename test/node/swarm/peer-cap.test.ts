import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../node/swarm/bitfield.ts'
import { type PeerCapState, worstReplaceable } from '../../../node/swarm/peer-cap.ts'
import type { PeerSession } from '../../../node/swarm/session.ts'

const full = (n: number): Bitfield => {
  const b = new Bitfield(n)
  for (let i = 0; i < n; i++) b.set(i)
  return b
}

/** A session as the policy reads it. */
const peer = (
  name: string,
  init: { score?: number; rate?: number; openedAt?: number; role?: string; bits?: Bitfield } = {},
): PeerSession =>
  ({
    peer: name,
    score: init.score ?? 0,
    rateBytesPerSecond: init.rate ?? 0,
    openedAt: init.openedAt ?? 0,
    hello: { role: init.role ?? 'campus' },
    bits: init.bits ?? full(4),
  }) as unknown as PeerSession

const state = (over: Partial<PeerCapState> = {}): PeerCapState => ({
  downloading: true,
  have: new Bitfield(4),
  availability: new Uint16Array([3, 3, 3, 3]),
  graceMs: 1000,
  now: 10_000,
  ...over,
})

describe('which peer makes room at the cap', () => {
  it('a peer scored below zero first, then the slowest under a tenth of the fastest', () => {
    const fast = peer('fast', { rate: 1_000_000 })
    const slow = peer('slow', { rate: 50_000, score: 3 })
    const stalled = peer('stalled', { score: -5, rate: 900_000 })
    expect(worstReplaceable([fast, slow, stalled], state())?.peer).toBe('stalled')
    expect(worstReplaceable([fast, slow], state())?.peer).toBe('slow')
    // a tenth or more of the fastest is not slow
    expect(worstReplaceable([fast, peer('ok', { rate: 100_000 })], state())).toBeUndefined()
  })

  it('keeps a slow peer that has not had its grace, while seeding, the origin, or the only holder of a missing chunk', () => {
    const fast = peer('fast', { rate: 1_000_000 })
    expect(worstReplaceable([fast, peer('new', { rate: 1, openedAt: 9_500 })], state())).toBeUndefined()
    expect(worstReplaceable([fast, peer('slow', { rate: 1 })], state({ downloading: false }))).toBeUndefined()
    expect(worstReplaceable([fast, peer('origin', { rate: 1, role: 'origin' })], state())).toBeUndefined()
    const only = new Bitfield(4)
    only.set(2)
    const availability = new Uint16Array([2, 2, 1, 2])
    expect(
      worstReplaceable([fast, peer('only', { rate: 1, bits: only })], state({ availability })),
    ).toBeUndefined()
    // once this node holds that chunk, the slow peer may go
    const have = new Bitfield(4)
    have.set(2)
    expect(
      worstReplaceable([fast, peer('only', { rate: 1, bits: only })], state({ availability, have }))?.peer,
    ).toBe('only')
    // a peer scored below zero goes even while seeding
    expect(worstReplaceable([fast, peer('liar', { score: -1 })], state({ downloading: false }))?.peer).toBe(
      'liar',
    )
  })
})
