/**
 * Registration with the tracker through what a tracker goes through: down for longer than
 * a few minutes (an update, a reboot), restarted with another admin token, refusing one
 * version for good. Versions are registered once it takes them, each once; failures are
 * reported with their reason, not at every attempt.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { Origin, PublishedVersion } from '../../origin/index.ts'
import { registerWithTracker, type TrackerRegistrationEvent } from '../../origin/tracker-registration.ts'
import type { Tracker } from '../../tracker/index.ts'
import { CLI, closedPort, killGroups } from '../node/utils/cli.ts'
import { ADMIN, fakeManifestCid, Harness, until } from '../tracker/harness.ts'
import { Fixture, TOKEN, uploadWhole } from './utils.ts'

const fx = new Fixture()
const trackers = new Harness()
const children: ChildProcess[] = []
let stopRegistration: (() => void) | undefined
afterEach(async () => {
  killGroups(children)
  vi.useRealTimers()
  vi.unstubAllGlobals()
  stopRegistration?.()
  stopRegistration = undefined
  await fx.cleanup()
  await trackers.teardown()
})

const MINUTE = 60_000

const version = (name: string, v: number, manifestCid: string): PublishedVersion => ({
  name,
  version: v,
  manifestCid,
  size: 10,
  type: 'video',
  mime: 'video/mp4',
  createdAt: 0,
})

/** Only what the registration uses: these versions already published, none to come. */
function fakeOrigin(versions: PublishedVersion[]): Origin {
  return {
    onVersion: () => () => {},
    listVersions: async () => versions,
  } as Partial<Origin> as Origin
}

/** Publishes a new version of `lesson-grade3` on a real origin. */
async function lesson(origin: Origin, bytes: number): Promise<void> {
  const res = await uploadWhole(
    origin.url,
    TOKEN,
    { name: 'lesson-grade3', type: 'video' },
    new Uint8Array(bytes).fill(bytes % 251),
  )
  expect(res.status).toBeLessThan(300)
}

/**
 * The real `fetch`, recording each version the tracker accepted: registering one twice
 * would show here, though the tracker takes the second as a no-op.
 */
function recordAccepted(): Array<{ version: number; at: number }> {
  const accepted: Array<{ version: number; at: number }> = []
  const real = globalThis.fetch
  vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
    const res = await real(url, init)
    if (init?.method === 'POST' && String(url).includes('/api/v1/resources/') && res.ok)
      accepted.push({
        version: (JSON.parse(init.body as string) as { version: number }).version,
        at: Date.now(),
      })
    return res
  })
  return accepted
}

const resources = async (t: Tracker): Promise<Array<{ name: string; versions: number; latest: number }>> =>
  await trackers.api(t, 'GET', '/resources')

describe('tracker registration through outages and refusals', () => {
  it('keeps retrying an unreachable tracker past 10 attempts, at most 5 minutes apart, reports it once, and registers when it is back', async () => {
    vi.useFakeTimers()
    let up = false
    const attempts: number[] = []
    const registered: string[] = []
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      attempts.push(Date.now())
      if (!up)
        throw new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:7070') })
      registered.push((JSON.parse(init.body as string) as { manifestCid: string }).manifestCid)
      return new Response('{}', { status: 201 })
    })
    const events: TrackerRegistrationEvent[] = []
    const cid = fakeManifestCid('lesson-v1')
    stopRegistration = registerWithTracker(fakeOrigin([version('lesson', 1, cid)]), {
      trackerUrl: 'http://tracker.test',
      token: 't',
      onEvent: (e) => events.push(e),
    })
    // a tracker down for an hour: the version used to be given up on after 10
    // attempts (about 2 minutes), until the origin's next restart
    await vi.advanceTimersByTimeAsync(60 * MINUTE)
    expect(attempts.length).toBeGreaterThan(10)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i])
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5 * MINUTE)
    // and not every few seconds once it has been down a while
    expect(gaps.slice(-3).every((g) => g >= MINUTE)).toBe(true)
    const failing = events.filter((e) => e.type === 'failing')
    expect(failing[0]).toMatchObject({
      attempts: 1,
      tokenRefused: false,
      pending: 1,
      reason: expect.stringContaining('ECONNREFUSED'),
    })
    // reported at the first failure and now and then after, not at every attempt
    expect(failing.length).toBeLessThanOrEqual(Math.ceil(attempts.length / 10) + 1)

    up = true
    await vi.advanceTimersByTimeAsync(5 * MINUTE)
    expect(registered).toEqual([cid])
    expect(events.at(-1)).toEqual({ type: 'recovered', attempts: attempts.length - 1, pending: 0 })
    // registered: nothing more is sent
    const sent = attempts.length
    await vi.advanceTimersByTimeAsync(60 * MINUTE)
    expect(attempts.length).toBe(sent)
  })

  it('registers the versions uploaded while a real tracker was down once it is back, each once', {
    timeout: 30_000,
  }, async () => {
    // a tracker that ran on this port, and went down for an update
    const before = await trackers.tracker()
    const port = Number(new URL(before.url).port)
    await before.close()
    const origin = await fx.origin()
    await lesson(origin, 3000)
    const accepted = recordAccepted()
    const events: TrackerRegistrationEvent[] = []
    stopRegistration = registerWithTracker(origin, {
      trackerUrl: `http://127.0.0.1:${port}`,
      token: ADMIN,
      // the backoff of an hour-long outage, shrunk to a second
      retryInitialMs: 10,
      retryMaxMs: 50,
      onEvent: (e) => events.push(e),
    })
    // uploaded while the tracker is down
    await lesson(origin, 4000)
    await until(
      () => events.some((e) => e.type === 'failing' && e.attempts >= 20),
      'twice as many failed attempts as it used to give up after',
    )
    const failing = events.filter((e) => e.type === 'failing')
    expect(failing[0]).toMatchObject({ attempts: 1, reason: expect.stringContaining('ECONNREFUSED') })
    expect(failing.map((e) => (e as { attempts: number }).attempts)).toEqual([1, 10, 20])

    const after = await trackers.tracker({ port })
    // after the outage the queue may register v2 before v1 (a failed one goes to its back)
    await until(
      async () => (await resources(after)).some((r) => r.versions === 2),
      'both versions registered',
    )
    expect(await resources(after)).toEqual([{ name: 'lesson-grade3', versions: 2, latest: 2 }])
    // the tracker lists a version once it is on disk, before its answer reaches the origin
    await until(() => accepted.length >= 2, 'both answers back at the origin')
    expect(accepted.map((a) => a.version).sort()).toEqual([1, 2])
    await until(() => events.some((e) => e.type === 'recovered'), 'recovered')
    expect(events.filter((e) => e.type === 'recovered')).toHaveLength(1)
  })

  it('says the tracker refuses the token and registers once the tracker is restarted with it', {
    timeout: 30_000,
  }, async () => {
    const before = await trackers.tracker()
    const port = Number(new URL(before.url).port)
    const origin = await fx.origin()
    await lesson(origin, 3000)
    const events: TrackerRegistrationEvent[] = []
    stopRegistration = registerWithTracker(origin, {
      trackerUrl: before.url,
      token: 'the-new-admin-token',
      retryInitialMs: 10,
      retryMaxMs: 100,
      onEvent: (e) => events.push(e),
    })
    await until(() => events.length > 0, 'a report of the refusal')
    expect(events[0]).toMatchObject({
      type: 'failing',
      tokenRefused: true,
      status: 403,
      reason: expect.stringMatching(/refused the admin token \(403 ERR_FORBIDDEN/),
    })
    expect(await resources(before)).toEqual([])
    // the operator restarts the tracker with the token the origin was given
    await before.close()
    const after = await trackers.tracker({ port, adminToken: 'the-new-admin-token' })
    const api = async (): Promise<Array<{ latest: number }>> => {
      const res = await after.app.inject({
        method: 'GET',
        url: '/api/v1/resources',
        headers: { authorization: 'Bearer the-new-admin-token' },
      })
      return res.json()
    }
    await until(async () => (await api()).some((r) => r.latest === 1), 'the version registered')
    // the tracker shows the version once it is on disk, before its answer reaches the origin
    await until(() => events.at(-1)?.type === 'recovered', 'the origin reports it recovered')
    expect(events.filter((e) => e.type === 'recovered')).toHaveLength(1)
  })

  it('retries a refused token only at the longest interval, not every few seconds', async () => {
    vi.useFakeTimers()
    const attempts: number[] = []
    vi.stubGlobal('fetch', async () => {
      attempts.push(Date.now())
      return Response.json({ error: { code: 'ERR_FORBIDDEN', message: 'invalid token' } }, { status: 403 })
    })
    const events: TrackerRegistrationEvent[] = []
    stopRegistration = registerWithTracker(fakeOrigin([version('lesson', 1, fakeManifestCid('lesson-v1'))]), {
      trackerUrl: 'http://tracker.test',
      token: 'wrong',
      onEvent: (e) => events.push(e),
    })
    await vi.advanceTimersByTimeAsync(30 * MINUTE)
    // still trying (the tracker may be given this token), 5 minutes apart
    expect(attempts.length).toBe(7)
    expect(attempts.slice(1).every((t, i) => t - attempts[i] === 5 * MINUTE)).toBe(true)
    expect(events).toEqual([
      {
        type: 'failing',
        reason: 'the tracker refused the admin token (403 ERR_FORBIDDEN: invalid token)',
        status: 403,
        tokenRefused: true,
        attempts: 1,
        pending: 1,
        retryInMs: 5 * MINUTE,
      },
    ])
  })

  it('drops a version a real tracker refuses for good, saying why, and registers the others', async () => {
    const tracker = await trackers.tracker()
    const accepted = recordAccepted()
    const posted: number[] = []
    const recording = globalThis.fetch
    vi.stubGlobal('fetch', async (url: string, init?: RequestInit) => {
      if (init?.method === 'POST')
        posted.push((JSON.parse(init.body as string) as { version: number }).version)
      return await recording(url, init)
    })
    const events: TrackerRegistrationEvent[] = []
    stopRegistration = registerWithTracker(
      fakeOrigin([
        version('lesson', 1, 'not-a-manifest-cid'),
        version('lesson', 2, fakeManifestCid('lesson-v2')),
      ]),
      {
        trackerUrl: tracker.url,
        token: ADMIN,
        retryInitialMs: 10,
        retryMaxMs: 50,
        onEvent: (e) => events.push(e),
      },
    )
    await until(() => accepted.length > 0, 'version 2 registered')
    expect(accepted.map((a) => a.version)).toEqual([2])
    expect(events).toEqual([
      {
        type: 'refused',
        name: 'lesson',
        version: 1,
        status: 400,
        reason: expect.stringMatching(/^400 ERR_/),
      },
    ])
    // asked once: a malformed field does not get better by asking again
    expect(posted).toEqual([1, 2])
  })

  it('the origin daemon prints a registration failure on stderr, with the reason, not only in debug logs', {
    timeout: 30_000,
  }, async () => {
    const tracker = `http://127.0.0.1:${await closedPort()}`
    const origin = spawn(
      process.execPath,
      [
        CLI,
        'origin',
        ...['--port', '0', '--data', await fx.dir(), '--no-seed', '--min-free-disk-bytes', '0'],
        ...['--token', TOKEN, '--tracker-url', tracker, '--tracker-token', ADMIN],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    )
    children.push(origin)
    const stderr: string[] = []
    createInterface({ input: origin.stderr! }).on('line', (l) => stderr.push(l))
    let url: string | undefined
    for await (const line of createInterface({ input: origin.stdout! })) {
      url ??= /listening on (\S+)/.exec(line)?.[1]
      if (line.startsWith('Upload a lesson')) break
    }
    const res = await uploadWhole(
      url!,
      TOKEN,
      { name: 'lesson', type: 'video' },
      new Uint8Array(1000).fill(3),
    )
    expect(res.status).toBeLessThan(300)
    await until(
      () => stderr.some((l) => l.includes('tracker registration: ERROR')),
      'the failure on stderr',
      15_000,
    )
    expect(stderr.find((l) => l.includes('tracker registration: ERROR'))).toMatch(
      new RegExp(
        `the tracker cannot be reached \\(connect ECONNREFUSED .*\\) \\(tracker ${tracker}\\); 1 version\\(s\\) wait`,
      ),
    )
  })
})
