import { describe, expect, it, vi } from 'vitest'
import { Limiter, TokenBucket } from '../../../node/limiter/index.ts'

describe('token bucket', () => {
  it('lets a burst through, then paces by the rate (fake clock)', async () => {
    vi.useFakeTimers()
    try {
      // the bucket reads the same fake clock that drives its timers
      const start = Date.now()
      const bucket = new TokenBucket({ bytesPerSecond: 1000, burstMs: 100, now: () => Date.now() - start })
      await bucket.take(100) // within the burst: no wait
      let through = false
      const p = bucket.take(500).then(() => {
        through = true
      })
      // 500 bytes at 1000 B/s, less the 100 ms burst already used by the first take: 500 ms
      await vi.advanceTimersByTimeAsync(499)
      expect(through).toBe(false)
      await vi.advanceTimersByTimeAsync(1)
      expect(through).toBe(true)
      await p
      expect(bucket.bytes).toBe(600)
    } finally {
      vi.useRealTimers()
    }
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

  it('still limits at a rate so low that a wait outlasts one Node timer', async () => {
    vi.useFakeTimers()
    try {
      // 1 MiB at 0.1 B/s: about 121 days, past the ~24.8 days one timer can wait
      const bucket = new TokenBucket({ bytesPerSecond: 0.1, burstMs: 0 })
      let through = false
      const p = bucket.take(1024 * 1024).then(() => {
        through = true
      })
      await vi.advanceTimersByTimeAsync(30 * 24 * 3600 * 1000)
      expect(through).toBe(false)
      await vi.advanceTimersByTimeAsync(92 * 24 * 3600 * 1000)
      await p
      expect(through).toBe(true)
    } finally {
      vi.useRealTimers()
    }
  })
})
