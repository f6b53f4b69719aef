import { describe, expect, it } from 'vitest'
import {
  MAX_REQUEST_WINDOW,
  MIN_REQUEST_WINDOW,
  ORIGIN_CONCURRENCY,
  PLAYBACK_LOOKAHEAD_CHUNKS,
} from '../../../node/node-constants.ts'
import { Bitfield } from '../../../node/swarm/bitfield.ts'
import {
  type OriginState,
  originChunks,
  playbackPriority,
  rankPeers,
  requestWindow,
} from '../../../node/swarm/schedule-policy.ts'

const MiB = 1024 * 1024

const held = (size: number, indices: number[]): Bitfield => {
  const b = new Bitfield(size)
  for (const i of indices) b.set(i)
  return b
}

describe('rankPeers', () => {
  it('puts the campus first, then the city, then the rest, better scores first within each', () => {
    const self = { campus: 'north', city: 'lyon' }
    const peers = [
      { name: 'elsewhere', hello: { campus: 'x', city: 'paris' }, score: 9 },
      { name: 'city-low', hello: { campus: 'south', city: 'lyon' }, score: 0 },
      { name: 'campus', hello: { campus: 'north', city: 'lyon' }, score: -1 },
      { name: 'city-high', hello: { campus: 'east', city: 'lyon' }, score: 4 },
      { name: 'no-hello', score: 20 },
    ]
    expect(rankPeers(peers, self).map((p) => p.name)).toEqual([
      'campus',
      'city-high',
      'city-low',
      'no-hello',
      'elsewhere',
    ])
  })

  it('does not match peers that, like us, name no campus or city', () => {
    const peers = [
      { name: 'a', hello: {}, score: 1 },
      { name: 'b', hello: { campus: 'north' }, score: 0 },
    ]
    expect(rankPeers(peers, {}).map((p) => p.name)).toEqual(['a', 'b'])
  })
})

describe('requestWindow', () => {
  it('holds about half a second of what the peer delivers, within its bounds', () => {
    expect(requestWindow(0, MiB)).toBe(MIN_REQUEST_WINDOW)
    expect(requestWindow(4 * MiB, MiB)).toBe(3)
    // 8 MiB of requests at most, whatever the rate
    expect(requestWindow(1000 * MiB, MiB)).toBe(8)
    expect(requestWindow(1000 * MiB, 64 * 1024)).toBe(MAX_REQUEST_WINDOW)
    // a chunk larger than the byte budget still keeps the pipeline going
    expect(requestWindow(1000 * MiB, 16 * MiB)).toBe(MIN_REQUEST_WINDOW)
  })
})

describe('playbackPriority', () => {
  it("lists each reader's missing look-ahead, the earliest reader first, without repeats", () => {
    const have = held(40, [1, 2, 21])
    const out = playbackPriority([20, 0, 4], have)
    expect(out.slice(0, 3)).toEqual([0, 3, 4])
    expect(out).not.toContain(1)
    expect(out).not.toContain(21)
    expect(new Set(out).size).toBe(out.length)
    expect(out.at(-1)).toBe(20 + PLAYBACK_LOOKAHEAD_CHUNKS - 1)
  })

  it('stops at the last chunk', () => {
    expect(playbackPriority([9], held(10, []))).toEqual([9])
  })
})

describe('originChunks', () => {
  const state = (over: Partial<OriginState> = {}): OriginState => ({
    have: held(16, [0, 1]),
    availability: new Uint16Array(16).fill(1),
    inflight: new Map(),
    originInflight: new Set(),
    verifying: new Set(),
    priority: [],
    peersIdle: false,
    ...over,
  })

  it('while peers deliver, fetches only what a reader waits for that no peer holds', () => {
    const availability = new Uint16Array(16).fill(1)
    availability[5] = 0
    expect(originChunks(state({ priority: [4, 5, 6], availability }), 0)).toEqual([5])
    expect(originChunks(state(), 0)).toEqual([])
  })

  it('once peers are idle, fetches readers first, then missing chunks nobody fetches, from the start given', () => {
    const out = originChunks(
      state({ peersIdle: true, priority: [9], inflight: new Map([[3, 1]]), verifying: new Set([4]) }),
      2,
    )
    expect(out).toEqual([9, 2, 5, 6].slice(0, ORIGIN_CONCURRENCY))
  })

  it('keeps at most ORIGIN_CONCURRENCY chunks in flight to the origin', () => {
    const busy = new Set(Array.from({ length: ORIGIN_CONCURRENCY - 1 }, (_, k) => 10 + k))
    expect(originChunks(state({ peersIdle: true, originInflight: busy }), 2)).toEqual([2])
    const full = new Set(Array.from({ length: ORIGIN_CONCURRENCY }, (_, k) => 10 + k))
    expect(originChunks(state({ peersIdle: true, originInflight: full }), 2)).toEqual([])
  })
})
