import { getEventListeners } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Origin, PublishedVersion } from '../../origin/index.ts'
import { registerWithTracker } from '../../origin/tracker-registration.ts'

afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

const version: PublishedVersion = {
  name: 'lesson',
  version: 1,
  manifestCid: 'bafy-lesson-v1',
  size: 10,
  type: 'video',
  mime: 'video/mp4',
  createdAt: 0,
}

/** Only what the registration uses: one version already published, none to come. */
function fakeOrigin(): Origin {
  return {
    onVersion: () => () => {},
    listVersions: async () => [version],
  } as Partial<Origin> as Origin
}

describe('tracker registration', () => {
  it('retries an unreachable tracker without piling up abort listeners', async () => {
    vi.useFakeTimers()
    let signal: AbortSignal | undefined
    // abort listeners on the registration's signal as each attempt starts
    const listeners: number[] = []
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      signal = init.signal ?? undefined
      if (signal) listeners.push(getEventListeners(signal, 'abort').length)
      return new Response('down for maintenance', { status: 503 })
    })
    const stop = registerWithTracker(fakeOrigin(), { trackerUrl: 'http://tracker.test', token: 't' })
    try {
      // every backoff (0.5 s doubling to 30 s) until it gives up after 10 attempts
      await vi.advanceTimersByTimeAsync(10 * 30_000)
      expect(listeners).toEqual(new Array(10).fill(0))
      expect(getEventListeners(signal!, 'abort')).toHaveLength(0)
    } finally {
      stop()
    }
  })

  it('stops waiting for the next attempt when stopped', async () => {
    vi.useFakeTimers()
    let attempts = 0
    vi.stubGlobal('fetch', async () => {
      attempts++
      return new Response('', { status: 503 })
    })
    const stop = registerWithTracker(fakeOrigin(), { trackerUrl: 'http://tracker.test', token: 't' })
    await vi.advanceTimersByTimeAsync(0)
    expect(attempts).toBe(1)
    stop()
    await vi.advanceTimersByTimeAsync(10 * 30_000)
    expect(attempts).toBe(1)
    expect(vi.getTimerCount()).toBe(0)
  })
})
