import { describe, expect, it } from 'vitest'
import { Limiter, TokenBucket } from '../../../node/limiter/index.ts'

describe('token bucket', () => {
  it('lets a burst through, then paces by the rate (fake clock)', async () => {
    let now = 0
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstMs: 100, now: () => now })
    await bucket.take(100) // within the burst: no wait
    const waits: string[] = []
    const p = bucket.take(500).then(() => waits.push('second'))
    await Promise.resolve()
    expect(waits).toEqual([])
    now = 500
    await p
    expect(waits).toEqual(['second'])
    expect(bucket.bytes).toBe(600)
  })

  it('is unlimited at Infinity and can be changed at runtime', async () => {
    const limiter = new Limiter()
    expect(limiter.get().uploadBytesPerSecond).toBe(Number.POSITIVE_INFINITY)
    await limiter.upload.take(1e12)
    limiter.set({ uploadBytesPerSecond: 5, originBytesPerSecond: 7 })
    expect(limiter.get()).toMatchObject({ uploadBytesPerSecond: 5, originBytesPerSecond: 7 })
    expect(() => limiter.set({ downloadBytesPerSecond: 0 })).toThrow(RangeError)
  })

  it('refunds an aborted wait', async () => {
    const bucket = new TokenBucket({ bytesPerSecond: 10, burstMs: 0 })
    const abort = new AbortController()
    const p = bucket.take(1000, { signal: abort.signal })
    abort.abort(new Error('gone'))
    await expect(p).rejects.toThrow('gone')
    expect(bucket.bytes).toBe(0)
  })
})
