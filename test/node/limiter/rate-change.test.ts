/**
 * A rate change applies at once to the takes already waiting: removing a limit releases
 * them, raising it speeds them up, lowering it slows them down, and they keep their order.
 * Found when `dandelion limits --download none` left a download booked at 1000 B/s stuck
 * for more than 40 s.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Limiter, TokenBucket } from '../../../node/limiter/index.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'

const day = 24 * 3600 * 1000

/** A take whose settling can be watched without awaiting it. */
function watch(p: Promise<void>): { passed: () => boolean; failed: () => unknown } {
  let passed = false
  let failed: unknown
  p.then(
    () => {
      passed = true
    },
    (err: unknown) => {
      failed = err
    },
  )
  return { passed: () => passed, failed: () => failed }
}

describe('token bucket rate changes', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('releases every waiter at once when the limit is removed, and leaves no timer', async () => {
    // the operator's case: 1 MiB booked at 1000 B/s is about 17 minutes away
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstMs: 100 })
    const first = watch(bucket.take(1024 * 1024))
    const second = watch(bucket.take(1024 * 1024))
    await vi.advanceTimersByTimeAsync(3000)
    expect(first.passed()).toBe(false)
    bucket.setRate(Number.POSITIVE_INFINITY)
    await vi.advanceTimersByTimeAsync(0)
    expect(first.passed()).toBe(true)
    expect(second.passed()).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
    // and what comes next is not held back by what was booked before
    await bucket.take(1024 * 1024)
    expect(bucket.bytes).toBe(3 * 1024 * 1024)
  })

  it('speeds the waiters up when the limit is raised, counting what they already waited', async () => {
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstMs: 0 })
    const take = watch(bucket.take(10_000)) // 10 s at 1000 B/s
    await vi.advanceTimersByTimeAsync(2000) // 2000 bytes paid, 8000 still owed
    bucket.setRate(8000) // 8000 bytes at 8000 B/s: 1 s more
    await vi.advanceTimersByTimeAsync(999)
    expect(take.passed()).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(take.passed()).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('slows the waiters down when the limit is lowered', async () => {
    const bucket = new TokenBucket({ bytesPerSecond: 1000, burstMs: 0 })
    const take = watch(bucket.take(2000)) // 2 s at 1000 B/s
    await vi.advanceTimersByTimeAsync(1000) // 1000 bytes still owed
    bucket.setRate(100) // 10 s more
    await vi.advanceTimersByTimeAsync(9999)
    expect(take.passed()).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(take.passed()).toBe(true)
  })

  it('keeps the waiters in arrival order across a change, each at the new rate', async () => {
    const bucket = new TokenBucket({ bytesPerSecond: 10, burstMs: 0 })
    const order: string[] = []
    const takes = ['a', 'b', 'c'].map((name) => bucket.take(1000).then(() => order.push(name)))
    await vi.advanceTimersByTimeAsync(1000) // 10 of a's bytes paid
    bucket.setRate(1000)
    // one that arrives after the change queues behind those already waiting
    takes.push(bucket.take(1000).then(() => order.push('d')))
    // a's 990 bytes left, then 1000 each for b, c and d
    await vi.advanceTimersByTimeAsync(990)
    expect(order).toEqual(['a'])
    await vi.advanceTimersByTimeAsync(1000)
    expect(order).toEqual(['a', 'b'])
    await vi.advanceTimersByTimeAsync(2000)
    expect(order).toEqual(['a', 'b', 'c', 'd'])
    await Promise.all(takes)
  })

  it('lets an aborted waiter leave the queue and give back its booking, to the waiters behind it', async () => {
    const bucket = new TokenBucket({ bytesPerSecond: 100, burstMs: 0 })
    const abort = new AbortController()
    const first = watch(bucket.take(1000, { signal: abort.signal })) // 10 s
    const second = watch(bucket.take(1000)) // 10 s after the first
    await vi.advanceTimersByTimeAsync(4000)
    abort.abort(new Error('gone'))
    await vi.advanceTimersByTimeAsync(0)
    expect(first.failed()).toEqual(new Error('gone'))
    expect(bucket.bytes).toBe(1000)
    // the first's bytes are given back: the second is owed 1000 bytes less the 400 the bucket paid since
    await vi.advanceTimersByTimeAsync(5999)
    expect(second.passed()).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(second.passed()).toBe(true)
    expect(first.passed()).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('keeps an aborted waiter out when the limit is then removed, and leaves no timer', async () => {
    const bucket = new TokenBucket({ bytesPerSecond: 1, burstMs: 0 })
    const abort = new AbortController()
    const aborted = watch(bucket.take(1000, { signal: abort.signal }))
    const kept = watch(bucket.take(1000))
    abort.abort(new Error('gone'))
    await vi.advanceTimersByTimeAsync(0)
    bucket.setRate(Number.POSITIVE_INFINITY)
    await vi.advanceTimersByTimeAsync(0)
    expect(kept.passed()).toBe(true)
    expect(aborted.passed()).toBe(false)
    expect(aborted.failed()).toEqual(new Error('gone'))
    expect(bucket.bytes).toBe(1000)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('re-times a wait longer than one Node timer, still in steps', async () => {
    // 1 MiB at 0.1 B/s: about 121 days, past the ~24.8 days one timer can wait
    const bucket = new TokenBucket({ bytesPerSecond: 0.1, burstMs: 0 })
    const take = watch(bucket.take(1024 * 1024))
    await vi.advanceTimersByTimeAsync(30 * day) // 259,200 bytes paid
    expect(take.passed()).toBe(false)
    // 789,376 bytes left at 0.2 B/s: about 45.7 days, again more than one timer
    bucket.setRate(0.2)
    await vi.advanceTimersByTimeAsync(45 * day)
    expect(take.passed()).toBe(false)
    await vi.advanceTimersByTimeAsync(1 * day)
    expect(take.passed()).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('applies a runtime change of the node limiter to every bucket at once, and a bad rate to none', async () => {
    const limiter = new Limiter({
      uploadBytesPerSecond: 10,
      downloadBytesPerSecond: 10,
      originBytesPerSecond: 10,
    })
    const takes = [limiter.upload, limiter.download, limiter.origin].map((b) => watch(b.take(1000)))
    expect(() => limiter.set({ uploadBytesPerSecond: 1e6, downloadBytesPerSecond: 0 })).toThrow(RangeError)
    expect(limiter.get().uploadBytesPerSecond).toBe(10)
    limiter.set({
      uploadBytesPerSecond: Number.POSITIVE_INFINITY,
      downloadBytesPerSecond: Number.POSITIVE_INFINITY,
      originBytesPerSecond: Number.POSITIVE_INFINITY,
    })
    await vi.advanceTimersByTimeAsync(0)
    expect(takes.map((t) => t.passed())).toEqual([true, true, true])
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('removing a download limit while a node downloads', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('lets the requests already waiting go, so the download completes', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const bytes = randomContent(16 * TEST_CHUNK_SIZE)
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    // a stall would withdraw the waiting requests and book them again, hiding the bug
    const leecher = await h.spawn({ playback: { port: 0 }, peerStallMs: 10 * 60_000 })
    const limits = async (body: unknown): Promise<unknown> => {
      const response = await fetch(`${leecher.playbackUrl}/limits`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      expect(response.status).toBe(200)
      return await response.json()
    }
    // what the operator did: `dandelion limits --download 1000`, a chunk every ~4 minutes
    await limits({ downloadBytesPerSecond: 1000 })
    const booked = vi.spyOn(TokenBucket.prototype, 'take')
    try {
      await h.connect(leecher, seeder)
      const done = leecher.fetch(manifest.cid, { signal: AbortSignal.timeout(45_000) })
      done.catch(() => {})
      // requests are booked in the leecher's download bucket (the only one at 1000 B/s)
      await until(() => booked.mock.contexts.some((b) => (b as TokenBucket).bytesPerSecond === 1000), 20_000)
      expect(leecher.status().swarms[0]?.chunksDone ?? 0).toBe(0)
      // then `dandelion limits --download none`
      expect(await limits({ downloadBytesPerSecond: null })).toMatchObject({ downloadBytesPerSecond: null })
      await done
      expect(leecher.status().totals.bytesFromPeers).toBe(bytes.byteLength)
    } finally {
      booked.mockRestore()
    }
  })
})
