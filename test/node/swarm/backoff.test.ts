import { describe, expect, it } from 'vitest'
import { Backoff } from '../../../node/swarm/backoff.ts'

describe('Backoff', () => {
  it('doubles per failure in a row up to the cap, with 50–150 % jitter, and a success resets it', () => {
    let now = 0
    let r = 0.5 // no jitter
    const b = new Backoff({ initialMs: 100, maxMs: 1000, now: () => now, random: () => r })
    expect(b.ready).toBe(true)
    expect([b.failure(), b.failure(), b.failure(), b.failure(), b.failure()]).toEqual([
      100, 200, 400, 800, 1000,
    ])
    expect(b.ready).toBe(false)
    now += 999
    expect(b.remainingMs).toBe(1)
    now += 1
    expect(b.ready).toBe(true)
    r = 0
    expect(b.failure()).toBe(500)
    r = 0.999
    expect(b.failure()).toBeCloseTo(1499)
    b.success()
    expect(b.ready).toBe(true)
    expect(b.failures).toBe(0)
    r = 0.5
    expect(b.failure()).toBe(100)
  })
})
