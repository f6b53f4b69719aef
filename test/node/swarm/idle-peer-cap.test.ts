import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../node/swarm/bitfield.ts'
import { type PeerCapState, worstReplaceable } from '../../../node/swarm/peer-cap.ts'
import type { PeerSession } from '../../../node/swarm/session.ts'

/** A session as the policy reads it: by default one that has exchanged nothing since it opened at 0. */
const peer = (
  name: string,
  init: {
    lastExchangeAt?: number
    outstanding?: number
    queued?: number
    serving?: number
    role?: string
    bits?: Bitfield
  } = {},
): PeerSession =>
  ({
    peer: name,
    score: 0,
    rateBytesPerSecond: 0,
    openedAt: 0,
    lastExchangeAt: init.lastExchangeAt ?? 0,
    outstanding: new Map(Array.from({ length: init.outstanding ?? 0 }, (_, i) => [i, 0])),
    queuedUploads: init.queued ?? 0,
    servingUploads: init.serving ?? 0,
    hello: { role: init.role ?? 'campus' },
    bits: init.bits ?? new Bitfield(4),
  }) as unknown as PeerSession

const seeding = (over: Partial<PeerCapState> = {}): PeerCapState => {
  const have = new Bitfield(4)
  for (let i = 0; i < 4; i++) have.set(i)
  return { downloading: false, have, availability: new Uint16Array(4), graceMs: 1000, now: 10_000, ...over }
}

describe('idle peers at the cap', () => {
  it('a seeding swarm replaces a peer that has asked for nothing during a stall period', () => {
    expect(worstReplaceable([peer('idle')], seeding())?.peer).toBe('idle')
    // one that asked lately, is being served, or has requests queued stays
    expect(worstReplaceable([peer('asked', { lastExchangeAt: 9_500 })], seeding())).toBeUndefined()
    expect(worstReplaceable([peer('served', { serving: 1 })], seeding())).toBeUndefined()
    expect(worstReplaceable([peer('queued', { queued: 2 })], seeding())).toBeUndefined()
    // while seeding, claiming to be the origin does not keep an idle peer's place
    expect(worstReplaceable([peer('origin', { role: 'origin' })], seeding())?.peer).toBe('origin')
  })

  it('a downloading swarm keeps the origin, a peer it waits on, and the only holder of a missing chunk', () => {
    const have = new Bitfield(4)
    const downloading = seeding({ downloading: true, have, availability: new Uint16Array([2, 2, 1, 2]) })
    expect(worstReplaceable([peer('idle')], downloading)?.peer).toBe('idle')
    expect(worstReplaceable([peer('origin', { role: 'origin' })], downloading)).toBeUndefined()
    expect(worstReplaceable([peer('busy', { outstanding: 1 })], downloading)).toBeUndefined()
    const only = new Bitfield(4)
    only.set(2)
    expect(worstReplaceable([peer('only', { bits: only })], downloading)).toBeUndefined()
  })
})
