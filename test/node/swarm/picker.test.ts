import { describe, expect, it } from 'vitest'
import { Bitfield } from '../../../node/swarm/bitfield.ts'
import { type PickState, pickChunks } from '../../../node/swarm/picker.ts'

function state(size: number, init: Partial<PickState> = {}): PickState {
  return {
    have: new Bitfield(size),
    availability: new Uint16Array(size),
    inflight: new Map(),
    originInflight: new Set(),
    verifying: new Set(),
    priority: [],
    missingIdle: size,
    replicate: true,
    ...init,
  }
}

function full(size: number): Bitfield {
  const b = new Bitfield(size)
  for (let i = 0; i < size; i++) b.set(i)
  return b
}

describe('chunk picker', () => {
  it('takes the rarest chunks first and breaks ties at random', () => {
    const s = state(6)
    s.availability.set([3, 1, 2, 1, 5, 4])
    const peer = { bits: full(6), outstanding: new Map<number, number>() }
    const seen = new Set<number>()
    for (let k = 0; k < 50; k++) {
      const [first, second] = pickChunks(s, peer, 2)
      expect([1, 3]).toContain(first)
      expect([1, 3]).toContain(second)
      seen.add(first)
    }
    expect(seen).toEqual(new Set([1, 3]))
    expect(pickChunks(s, peer, 3, () => 0.5)[2]).toBe(2)
  })

  it('serves a waiting reader sequentially before rarity', () => {
    const s = state(10, { priority: [7, 8] })
    s.availability.fill(5)
    s.availability[0] = 1
    expect(pickChunks(s, { bits: full(10), outstanding: new Map() }, 3)).toEqual([7, 8, 0])
  })

  it('skips held, in-flight and verifying chunks and what the peer lacks', () => {
    const s = state(5, { missingIdle: 1 })
    s.have.set(0)
    s.inflight.set(1, 1)
    s.verifying.add(2)
    s.originInflight.add(3)
    expect(pickChunks(s, { bits: full(5), outstanding: new Map() }, 5)).toEqual([4])
    const bits = new Bitfield(5)
    bits.set(0)
    expect(pickChunks(state(5), { bits, outstanding: new Map() }, 5)).toEqual([0])
  })

  it('duplicates in-flight requests to another peer only in endgame', () => {
    const s = state(3, { missingIdle: 0 })
    s.inflight.set(0, 1).set(1, 2).set(2, 1)
    const picks = pickChunks(s, { bits: full(3), outstanding: new Map([[2, 0]]) }, 3)
    expect(picks).toEqual([0]) // 1 already has two copies requested; 2 is requested from this peer
  })

  it('a streaming swarm asks only for what readers wait for', () => {
    const s = state(4, { replicate: false, priority: [2] })
    expect(pickChunks(s, { bits: full(4), outstanding: new Map() }, 4)).toEqual([2])
  })
})
