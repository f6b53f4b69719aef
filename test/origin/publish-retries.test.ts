import { describe, expect, it } from 'vitest'
import { PublishRetries } from '../../origin/publish-retries.ts'

describe('sweep retries of a failed publishing', () => {
  it('backs off 1, 2, 4… sweeps, at most maxSweepsApart, and stops after maxAttempts', () => {
    const retries = new PublishRetries({ maxAttempts: 5, maxSweepsApart: 4 })
    const tried: number[] = []
    for (let sweep = 1; sweep <= 30; sweep++) {
      if (!retries.due('a')) continue
      tried.push(sweep)
      retries.failed('a', new Error('pin failed'))
    }
    expect(tried).toEqual([1, 2, 4, 8, 12])
    // published by a client's HEAD meanwhile: forgotten, and due again if it ever fails again
    retries.keepOnly([])
    expect(retries.due('a')).toBe(true)
  })
})
