/**
 * Registration with a tracker whose answers are not the plain ones: a refusal for good that
 * ends an outage (the tracker works again, the operator must see so), and a tracker URL that
 * redirects (a proxy sending http to https, or elsewhere), where following the redirect
 * turns the POST into a GET and drops the token. A small HTTP stand-in on 127.0.0.1 plays
 * the tracker, so each answer comes exactly when the test needs it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Origin } from '../../origin/index.ts'
import { registerWithTracker, type TrackerRegistrationEvent } from '../../origin/tracker-registration.ts'
import { until } from '../tracker/harness.ts'
import { json, standIns } from './tracker-stand-in.ts'
import { Fixture, TOKEN, uploadWhole } from './utils.ts'

const fx = new Fixture()
const stands = standIns()
let stopRegistration: (() => void) | undefined
afterEach(async () => {
  stopRegistration?.()
  stopRegistration = undefined
  await stands.closeAll()
  await fx.cleanup()
})

interface TrackerHealth {
  status: string
  pendingVersions: number
  consecutiveFailures: number
  lastFailure: string | null
  nextAttemptAt: string | null
  versionsRefused: number
}

async function trackerHealth(origin: Origin): Promise<TrackerHealth | undefined> {
  return ((await (await fetch(`${origin.url}/healthz`)).json()) as { tracker?: TrackerHealth }).tracker
}

/** The value of the unlabelled metric `name` in the origin's `/metrics`. */
async function metric(origin: Origin, name: string): Promise<number> {
  const text = await (await fetch(`${origin.url}/metrics`)).text()
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  if (line === null) throw new Error(`no metric ${name} in /metrics`)
  return Number(line[1])
}

async function lesson(origin: Origin, bytes: number): Promise<void> {
  const res = await uploadWhole(
    origin.url,
    TOKEN,
    { name: 'lesson-grade3', type: 'video' },
    new Uint8Array(bytes).fill(bytes % 251),
  )
  expect(res.status).toBeLessThan(300)
}

describe('tracker registration and unusual tracker answers', () => {
  it('shows the tracker as working again when it answers a refusal for good after refusing the token', {
    timeout: 30_000,
  }, async () => {
    // the tracker refuses the origin's token, then is given it: and the one version waiting
    // is one it holds under another manifest (409), so it is refused for good
    let tokenFixed = false
    const tracker = await stands.start((_req, res) =>
      tokenFixed
        ? json(res, 409, {
            error: { code: 'ERR_CONFLICT', message: 'lesson-grade3 v1 exists with another manifest' },
          })
        : json(res, 403, { error: { code: 'ERR_FORBIDDEN', message: 'wrong token' } }),
    )
    const origin = await fx.origin()
    await lesson(origin, 3000)
    const events: TrackerRegistrationEvent[] = []
    stopRegistration = registerWithTracker(origin, {
      trackerUrl: tracker.url,
      token: 'the-admin-token',
      retryInitialMs: 10,
      retryMaxMs: 50,
      onEvent: (e) => events.push(e),
    })
    await until(async () => (await trackerHealth(origin))?.status === 'token-refused', 'the refused token')

    tokenFixed = true
    await until(async () => (await trackerHealth(origin))?.versionsRefused === 1, 'the refusal counted')
    // the tracker takes the token and answers: nothing fails any more, nothing waits
    expect(await trackerHealth(origin)).toMatchObject({
      status: 'ok',
      pendingVersions: 0,
      consecutiveFailures: 0,
      lastFailure: null,
      nextAttemptAt: null,
    })
    expect(await metric(origin, 'dandelion_origin_tracker_token_refused')).toBe(0)
    expect(await metric(origin, 'dandelion_origin_tracker_consecutive_failures')).toBe(0)
    // and the daemon's stderr says so after its "ERROR: the tracker refused the admin token"
    expect(events.map((e) => e.type)).toEqual(['failing', 'refused', 'recovered'])
  })

  it('does not count a version as registered when the tracker URL redirects the POST', {
    timeout: 30_000,
  }, async () => {
    // a proxy in front of the tracker that moved it (a 301, as an http-to-https redirect
    // sends): followed, the POST comes back as a GET of the version list, which answers 200
    const tracker = await stands.start((req, res) =>
      req.method === 'POST'
        ? json(res, 301, { moved: true }, { location: `/tracker${req.url}` })
        : json(res, 200, []),
    )
    const origin = await fx.origin()
    await lesson(origin, 3000)
    stopRegistration = registerWithTracker(origin, {
      trackerUrl: tracker.url,
      token: 'the-admin-token',
      retryInitialMs: 10,
      retryMaxMs: 50,
    })
    // either outcome ends the wait: the version taken as registered, or a failure shown
    await until(
      async () =>
        (await metric(origin, 'dandelion_origin_tracker_versions_registered_total')) > 0 ||
        ((await trackerHealth(origin))?.consecutiveFailures ?? 0) >= 1,
      'an outcome of the first attempt',
    )
    // nothing was registered: the version still waits, and the failure names the redirect
    expect(tracker.received.filter((r) => r.method === 'POST').length).toBeGreaterThanOrEqual(1)
    expect(await metric(origin, 'dandelion_origin_tracker_versions_registered_total')).toBe(0)
    const health = await trackerHealth(origin)
    expect(health).toMatchObject({ status: 'failing', pendingVersions: 1 })
    expect(health?.lastFailure).toContain('/tracker/api/v1/resources/lesson-grade3/versions')
  })
})
