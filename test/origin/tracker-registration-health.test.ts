/**
 * What an operator watching the origin's `/healthz` and `/metrics` sees of its registration
 * with the tracker: before, a tracker that was down or refused the token showed only on the
 * daemon's stderr. The origin stays healthy for serving (200, `status: ok`) throughout.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Origin } from '../../origin/index.ts'
import { registerWithTracker } from '../../origin/tracker-registration.ts'
import { ADMIN, fakeManifestCid, Harness, until } from '../tracker/harness.ts'
import { Fixture, TOKEN, uploadWhole } from './utils.ts'

const fx = new Fixture()
const trackers = new Harness()
let stopRegistration: (() => void) | undefined
afterEach(async () => {
  stopRegistration?.()
  stopRegistration = undefined
  await fx.cleanup()
  await trackers.teardown()
})

interface Health {
  http: number
  status: string
  tracker?: {
    status: string
    pendingVersions: number
    consecutiveFailures: number
    lastFailure: string | null
    lastFailureAt: string | null
    lastSuccessAt: string | null
    nextAttemptAt: string | null
    versionsRefused: number
  }
}

async function health(origin: Origin): Promise<Health> {
  const res = await fetch(`${origin.url}/healthz`)
  return { http: res.status, ...((await res.json()) as Omit<Health, 'http'>) }
}

/** The value of the unlabelled metric `name` in the origin's `/metrics`. */
async function metric(origin: Origin, name: string): Promise<number> {
  const text = await (await fetch(`${origin.url}/metrics`)).text()
  const line = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
  if (line === null) throw new Error(`no metric ${name} in /metrics`)
  return Number(line[1])
}

/** Publishes a version of `lesson-grade3`; returns its manifest CID. */
async function lesson(origin: Origin, bytes: number): Promise<string> {
  const res = await uploadWhole(
    origin.url,
    TOKEN,
    { name: 'lesson-grade3', type: 'video' },
    new Uint8Array(bytes).fill(bytes % 251),
  )
  expect(res.status).toBeLessThan(300)
  return res.headers.get('dandelion-manifest')!
}

describe('tracker registration in /healthz and /metrics', () => {
  it('shows a tracker that is down, the versions waiting, and its recovery, while the origin stays healthy', {
    timeout: 30_000,
  }, async () => {
    // a tracker that ran on this port, and went down for an update
    const before = await trackers.tracker()
    const port = Number(new URL(before.url).port)
    await before.close()
    const origin = await fx.origin()
    const manifestCid = await lesson(origin, 3000)
    expect(await metric(origin, 'dandelion_origin_tracker_registration_enabled')).toBe(0)
    stopRegistration = registerWithTracker(origin, {
      trackerUrl: `http://127.0.0.1:${port}`,
      token: ADMIN,
      retryInitialMs: 10,
      retryMaxMs: 50,
    })
    await until(
      async () => ((await health(origin)).tracker?.consecutiveFailures ?? 0) >= 3,
      'failures in /healthz',
    )
    const down = await health(origin)
    // still serving: not a reason for a load balancer to take it out
    expect(down).toMatchObject({ http: 200, status: 'ok' })
    expect(down.tracker).toMatchObject({
      status: 'failing',
      pendingVersions: 1,
      lastFailure: expect.stringContaining('ECONNREFUSED'),
      lastSuccessAt: null,
      versionsRefused: 0,
    })
    expect(Date.parse(down.tracker!.lastFailureAt!)).toBeGreaterThan(0)
    expect(Date.parse(down.tracker!.nextAttemptAt!)).toBeGreaterThanOrEqual(
      Date.parse(down.tracker!.lastFailureAt!),
    )
    expect((await fetch(`${origin.url}/manifests/${manifestCid}`)).status).toBe(200)
    expect(await metric(origin, 'dandelion_origin_tracker_registration_enabled')).toBe(1)
    expect(await metric(origin, 'dandelion_origin_tracker_pending_versions')).toBe(1)
    expect(await metric(origin, 'dandelion_origin_tracker_consecutive_failures')).toBeGreaterThanOrEqual(3)
    expect(
      await metric(origin, 'dandelion_origin_tracker_registration_failures_total'),
    ).toBeGreaterThanOrEqual(3)
    expect(await metric(origin, 'dandelion_origin_tracker_token_refused')).toBe(0)
    expect(await metric(origin, 'dandelion_origin_tracker_last_failure_timestamp_seconds')).toBeGreaterThan(0)
    expect(await metric(origin, 'dandelion_origin_tracker_last_success_timestamp_seconds')).toBe(0)

    // uploaded while the tracker is down: waits too
    await lesson(origin, 4000)
    await until(async () => (await health(origin)).tracker?.pendingVersions === 2, 'two versions waiting')

    await trackers.tracker({ port })
    await until(async () => (await health(origin)).tracker?.pendingVersions === 0, 'both versions registered')
    const back = await health(origin)
    expect(back).toMatchObject({ http: 200, status: 'ok' })
    expect(back.tracker).toMatchObject({
      status: 'ok',
      consecutiveFailures: 0,
      lastFailure: null,
      nextAttemptAt: null,
    })
    expect(Date.parse(back.tracker!.lastSuccessAt!)).toBeGreaterThan(0)
    expect(await metric(origin, 'dandelion_origin_tracker_consecutive_failures')).toBe(0)
    expect(await metric(origin, 'dandelion_origin_tracker_versions_registered_total')).toBe(2)
    expect(await metric(origin, 'dandelion_origin_tracker_last_success_timestamp_seconds')).toBeGreaterThan(0)
  })

  it('shows that the tracker refuses the token, until it is given it', { timeout: 30_000 }, async () => {
    const before = await trackers.tracker()
    const port = Number(new URL(before.url).port)
    const origin = await fx.origin()
    await lesson(origin, 3000)
    stopRegistration = registerWithTracker(origin, {
      trackerUrl: before.url,
      token: 'the-new-admin-token',
      retryInitialMs: 10,
      retryMaxMs: 50,
    })
    await until(
      async () => (await health(origin)).tracker?.status === 'token-refused',
      'the refusal in /healthz',
    )
    const refused = await health(origin)
    expect(refused).toMatchObject({ http: 200, status: 'ok' })
    expect(refused.tracker).toMatchObject({
      pendingVersions: 1,
      lastFailure: expect.stringMatching(/refused the admin token \(403 ERR_FORBIDDEN/),
    })
    expect(await metric(origin, 'dandelion_origin_tracker_token_refused')).toBe(1)

    // the operator restarts the tracker with the token the origin was given
    await before.close()
    await trackers.tracker({ port, adminToken: 'the-new-admin-token' })
    await until(async () => (await health(origin)).tracker?.status === 'ok', 'registration works again')
    expect((await health(origin)).tracker).toMatchObject({ pendingVersions: 0, consecutiveFailures: 0 })
    expect(await metric(origin, 'dandelion_origin_tracker_token_refused')).toBe(0)
  })

  it('counts a version the tracker refuses for good, and says nothing of a tracker it was not given', async () => {
    const origin = await fx.origin()
    const without = await health(origin)
    expect(without).toMatchObject({ http: 200, status: 'ok' })
    expect(without).not.toHaveProperty('tracker')

    const tracker = await trackers.tracker()
    await lesson(origin, 3000)
    // another manifest under the same number on the tracker: version 1 is refused for good
    await trackers.api(tracker, 'POST', '/resources/lesson-grade3/versions', {
      version: 1,
      manifestCid: fakeManifestCid('someone else'),
      size: 10,
      type: 'video',
    })
    stopRegistration = registerWithTracker(origin, { trackerUrl: tracker.url, token: ADMIN })
    await until(async () => (await health(origin)).tracker?.versionsRefused === 1, 'the refusal counted')
    expect((await health(origin)).tracker).toMatchObject({ status: 'ok', pendingVersions: 0 })
    expect(await metric(origin, 'dandelion_origin_tracker_versions_refused_total')).toBe(1)
    stopRegistration()
    stopRegistration = undefined
    expect(await health(origin)).not.toHaveProperty('tracker')
  })
})
