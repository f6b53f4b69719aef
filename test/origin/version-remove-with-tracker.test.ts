/**
 * Removing a version end to end: a real origin registering with a real tracker whose nodes
 * (real agents on loopback) run a release. The version no node ever got is removed at both;
 * the version the nodes run is kept at both, with the tracker's reason in the origin's answer.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { registerWithTracker } from '../../origin/tracker-registration.ts'
import { ADMIN, Harness, until } from '../tracker/harness.ts'
import { http, untilCompleted } from '../tracker/wire.ts'
import { Fixture, TOKEN, uploadWhole } from './utils.ts'

const fx = new Fixture()
const h = new Harness()
let stopRegistration: (() => void) | undefined
afterEach(async () => {
  stopRegistration?.()
  await fx.cleanup()
  await h.teardown()
})

describe('removing a version from an origin with a tracker and its nodes', () => {
  it('removes the version no node got, keeps the one the nodes run', { timeout: 30_000 }, async () => {
    const { t } = await h.withAgents(3)
    const origin = await fx.origin()
    stopRegistration = registerWithTracker(origin, { trackerUrl: t.url, token: ADMIN, retryInitialMs: 50 })
    for (const fill of [1, 2]) {
      const res = await uploadWhole(
        origin.url,
        TOKEN,
        { name: 'course', type: 'video' },
        new Uint8Array(4000).fill(fill),
      )
      expect(res.status).toBe(201)
    }
    await until(async () => {
      const res = await http(t, 'GET', '/resources/course/versions')
      return res.status === 200 && (res.body as unknown[]).length === 2
    }, 'both versions registered')
    await http(t, 'POST', '/resources/course/versions/2/approve')
    const release = await http(t, 'POST', '/releases', {
      resource: 'course',
      version: 2,
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 100 }],
    })
    await untilCompleted(t, release.body.id as string)

    const del = async (
      v: number,
    ): Promise<{ status: number; body: { error?: { code: string; message: string } } }> => {
      const res = await fetch(`${origin.url}/resources/course/versions/${v}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${TOKEN}` },
      })
      return { status: res.status, body: (await res.json()) as { error?: { code: string; message: string } } }
    }
    expect((await del(1)).status).toBe(200)
    const kept = await del(2)
    expect(kept.status).toBe(409)
    expect(kept.body.error?.code).toBe('ERR_VERSION_IN_USE')
    expect(kept.body.error?.message).toMatch(
      /^the tracker keeps course v2: course v2 is in use: 3 nodes run it/,
    )

    const atTracker = (await http(t, 'GET', '/resources/course/versions')).body as Array<{
      version: number
      status: string
    }>
    expect(atTracker.map((v) => [v.version, v.status])).toEqual([
      [1, 'removed'],
      [2, 'approved'],
    ])
    expect((await origin.listVersions()).map((v) => v.version)).toEqual([2])
  })
})
