/**
 * An origin registering with a tracker asks it before removing a version: the tracker's
 * refusal (a node still uses it) keeps the version, a tracker that cannot be asked keeps it
 * too, a version the tracker never registered goes, and one still waiting to be registered
 * is never registered after it was removed. A small HTTP stand-in on 127.0.0.1 plays the
 * tracker (the tracker's own rules are tested in test/tracker/version-remove.test.ts, and
 * both together in version-remove-with-tracker.test.ts).
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { UploadGrantIssuer } from '../../node/upload-grant.ts'
import type { Origin } from '../../origin/index.ts'
import { registerWithTracker } from '../../origin/tracker-registration.ts'
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

async function lesson(origin: Origin, name = 'lesson'): Promise<string> {
  const res = await uploadWhole(origin.url, TOKEN, { name, type: 'video' }, new Uint8Array(5000).fill(7))
  expect(res.status).toBeLessThan(300)
  let cid: string | undefined
  await until(async () => {
    const v = (await origin.listVersions()).find((x) => x.name === name)
    cid = v?.manifestCid
    return cid !== undefined
  }, 'the version published')
  return cid!
}

interface Answer409 {
  error: { code: string; message: string }
}

async function remove(origin: Origin): Promise<{ status: number; body: Answer409 }> {
  const res = await fetch(`${origin.url}/resources/lesson/versions/1`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${TOKEN}` },
  })
  return { status: res.status, body: (await res.json()) as Answer409 }
}

const register = (origin: Origin, trackerUrl: string): void => {
  stopRegistration = registerWithTracker(origin, {
    trackerUrl,
    token: 'the-admin-token',
    retryInitialMs: 20,
    retryMaxMs: 50,
  })
}

describe('removing a version from an origin with a tracker', () => {
  it('keeps it when the tracker says a node still uses it, and says why', async () => {
    const tracker = await stands.start((req, res) =>
      req.method === 'DELETE'
        ? json(res, 409, {
            error: {
              code: 'ERR_VERSION_IN_USE',
              message: 'lesson v1 is in use: 3 nodes run it. Release another version to them first.',
            },
          })
        : json(res, 201, {}),
    )
    const origin = await fx.origin()
    const cid = await lesson(origin)
    register(origin, tracker.url)
    await until(async () => tracker.received.some((r) => r.method === 'POST'), 'the registration')

    const { status, body } = await remove(origin)
    expect(status).toBe(409)
    expect(body.error.code).toBe('ERR_VERSION_IN_USE')
    expect(body.error.message).toContain('3 nodes run it')
    expect(tracker.received.at(-1)).toEqual({
      method: 'DELETE',
      url: '/api/v1/resources/lesson/versions/1',
      authorization: 'Bearer the-admin-token',
    })
    expect((await fetch(`${origin.url}/manifests/${cid}`)).status).toBe(200)

    // once the tracker agrees, it goes
    tracker.answer = (_req, res) => json(res, 200, { resource: 'lesson', version: 1, status: 'removed' })
    expect((await remove(origin)).status).toBe(200)
    expect((await fetch(`${origin.url}/manifests/${cid}`)).status).toBe(404)
  })

  it('keeps it when the tracker cannot be asked: unreachable, or an answer that is not its own', async () => {
    const tracker = await stands.start((_req, res) => json(res, 201, {}))
    const origin = await fx.origin()
    const cid = await lesson(origin)
    register(origin, tracker.url)
    await until(async () => tracker.received.length > 0, 'the registration')
    // a proxy's 404 (no tracker error of its own) is not "never registered"
    tracker.answer = (_req, res) => json(res, 404, { message: 'Not Found' })
    let answer = await remove(origin)
    expect(answer.status).toBe(503)
    expect(answer.body.error.code).toBe('ERR_TRACKER_UNAVAILABLE')
    expect(answer.body.error.message).toContain('nothing was removed')

    await tracker.close()
    answer = await remove(origin)
    expect(answer.status).toBe(503)
    expect(answer.body.error.message).toMatch(/cannot be reached/)
    expect(answer.body.error.message).toContain(tracker.url)
    expect((await fetch(`${origin.url}/manifests/${cid}`)).status).toBe(200)
  })

  it('removes a version the tracker never registered, and never registers it after', async () => {
    // the tracker fails every registration for now: v1 waits in the origin's queue
    let registering = false
    const tracker = await stands.start((req, res) => {
      if (req.method === 'DELETE')
        json(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'lesson v1 not found' } })
      else if (registering) json(res, 201, {})
      else json(res, 503, { error: { code: 'ERR_UNAVAILABLE', message: 'starting' } })
    })
    const origin = await fx.origin()
    await lesson(origin)
    register(origin, tracker.url)
    await until(async () => tracker.received.filter((r) => r.method === 'POST').length >= 2, 'retries')

    expect((await remove(origin)).status).toBe(200)
    const removedAt = tracker.received.length
    registering = true
    await lesson(origin, 'next')
    await until(
      async () => tracker.received.slice(removedAt).some((r) => r.url === '/api/v1/resources/next/versions'),
      'the next version registered',
    )
    // give the queue a few more rounds: nothing for the removed version
    await new Promise((r) => setTimeout(r, 200))
    expect(tracker.received.slice(removedAt).filter((r) => r.url.includes('/resources/lesson/'))).toEqual([])
  })

  it('does not ask the tracker about a private version (a homework photo it never had)', async () => {
    const tracker = await stands.start((_req, res) =>
      json(res, 500, { error: { code: 'ERR_INTERNAL', message: 'down' } }),
    )
    const rtc = new UploadGrantIssuer(await generateKeyPair('Ed25519'))
    const origin = await fx.origin({ grantIssuers: [rtc.id] })
    const photo = 'homework-lamp-5f0c3a9d2b7e41c68a1f0e9d3c2b7a64'
    const grant = rtc.issue({ name: photo, type: 'image', max: 100_000, ttlMs: 60_000 })
    expect(
      (await uploadWhole(origin.url, grant, { name: photo, type: 'image' }, new Uint8Array(3000))).status,
    ).toBe(201)
    register(origin, tracker.url)
    const res = await fetch(`${origin.url}/resources/${photo}/versions/1`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    })
    expect(res.status).toBe(200)
    expect(tracker.received).toEqual([])
    expect((await fetch(`${origin.url}/resources/${photo}/versions`)).status).toBe(200)
    expect(
      ((await (await fetch(`${origin.url}/resources/${photo}/versions`)).json()) as { versions: unknown[] })
        .versions,
    ).toEqual([])
  })
})
