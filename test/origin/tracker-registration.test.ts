import { getEventListeners } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { UploadGrantIssuer } from '../../node/upload-grant.ts'
import type { Origin, PublishedVersion } from '../../origin/index.ts'
import { registerWithTracker } from '../../origin/tracker-registration.ts'
import { ADMIN, Harness, until } from '../tracker/harness.ts'
import { Fixture, TOKEN, uploadWhole } from './utils.ts'

const fx = new Fixture()
const trackers = new Harness()
let stopRegistration: (() => void) | undefined
afterEach(async () => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
  stopRegistration?.()
  stopRegistration = undefined
  await fx.cleanup()
  await trackers.teardown()
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

  it('registers public versions with a real tracker, never a photo uploaded with a grant', async () => {
    const tracker = await trackers.tracker()
    const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    const photo = (name: string): Promise<Response> =>
      uploadWhole(
        origin.url,
        rtc.issue({ name, type: 'image', max: 10_000, ttlMs: 60_000 }),
        { name, type: 'image' },
        new Uint8Array(2000).fill(7),
      )
    const lesson = (bytes: number): Promise<Response> =>
      uploadWhole(origin.url, TOKEN, { name: 'lesson-grade3', type: 'video' }, new Uint8Array(bytes).fill(1))
    const registered = async (): Promise<Array<{ name: string; latest: number }>> =>
      await trackers.api(tracker, 'GET', '/resources')

    // Published before registration starts: registered one after the other in name order, so
    // the photo (`homework-…` sorts before `lesson-…`) would reach the tracker first.
    await photo('homework-lamp-5f0c3a9d2b7e41c68a1f0e9d3c2b7a64')
    await lesson(3000)
    stopRegistration = registerWithTracker(origin, { trackerUrl: tracker.url, token: ADMIN })
    await until(async () => (await registered()).some((r) => r.latest === 1), 'the lesson registered')
    // published while it runs: the photo's version event comes first
    await photo('homework-lamp-0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e')
    await lesson(4000)
    await until(async () => (await registered()).some((r) => r.latest === 2), 'the new lesson registered')
    expect(await registered()).toEqual([{ name: 'lesson-grade3', versions: 2, latest: 2 }])
  })
})
