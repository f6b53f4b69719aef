/**
 * Removing a version (`DELETE /api/v1/resources/:name/versions/:version`), as the origin asks
 * before it deletes a version's content: a version nothing uses is kept as a tombstone
 * (status `removed`), across a restart, never approved or released again and its number
 * never taken again. Real tracker on disk, the API over HTTP. What "in use" refuses is in
 * `version-in-use.test.ts`.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Harness, lessonCid, until } from './harness.ts'
import { http } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

const VIEWER = 'viewer-token-remove'

/** `lesson` v`v` as `GET /resources/lesson/versions` lists it. */
async function lessonVersion(t: { url: string }, v: number): Promise<Record<string, unknown>> {
  const list = (await http(t, 'GET', '/resources/lesson/versions')).body as Array<{ version: number }>
  return list.find((x) => x.version === v) as Record<string, unknown>
}

describe('removing a version', () => {
  it('keeps an unused draft or approved version as a tombstone, idempotently, across a restart', {
    timeout: 30_000,
  }, async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir, viewerToken: VIEWER })
    await h.seed(t) // lesson v1, v2 approved; v3 draft
    const before = Date.now()

    const draft = await http(t, 'DELETE', '/resources/lesson/versions/3')
    expect(draft.status).toBe(200)
    expect(draft.body).toMatchObject({
      resource: 'lesson',
      version: 3,
      manifestCid: lessonCid(3),
      status: 'removed',
      removedAt: expect.any(Number),
    })
    expect(draft.body.removedAt).toBeGreaterThanOrEqual(before)
    const approved = await http(t, 'DELETE', '/resources/lesson/versions/2')
    expect(approved.status).toBe(200)
    expect(approved.body).toMatchObject({ version: 2, status: 'removed', approvedAt: expect.any(Number) })

    // again: the same record, nothing changed
    const again = await http(t, 'DELETE', '/resources/lesson/versions/2')
    expect(again).toEqual({ status: 200, body: approved.body })
    // never registered: 404
    for (const path of ['/resources/lesson/versions/9', '/resources/nope/versions/1']) {
      const missing = await http(t, 'DELETE', path)
      expect(missing.status).toBe(404)
      expect(missing.body.error.code).toBe('ERR_NOT_FOUND')
    }
    // the viewer token changes nothing
    const viewer = await fetch(`${t.url}/api/v1/resources/lesson/versions/1`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${VIEWER}` },
    })
    expect(viewer.status).toBe(403)
    expect(((await viewer.json()) as { error: { code: string } }).error.code).toBe('ERR_FORBIDDEN')
    expect(await lessonVersion(t, 1)).toMatchObject({ status: 'approved' })

    // the listing counts what is kept; the latest approved is no removed one
    expect((await http(t, 'GET', '/resources')).body).toEqual([
      { name: 'lesson', versions: 1, latest: 3, approved: 1, removed: 2 },
    ])
    // the audit trail has the removals (the second answered 200 too), not the refusals: after
    // the seed's 10 changes (cities, campuses, registrations, approvals)
    await until(async () => (await h.api(t, 'GET', '/audit')).length === 13, 'removals recorded')
    const trail = (await h.api(t, 'GET', '/audit')) as Array<{
      method: string
      route: string
      params?: unknown
    }>
    expect(trail.slice(0, 3).map((e) => [e.method, e.route, e.params])).toEqual([
      ['DELETE', '/api/v1/resources/:name/versions/:version', { name: 'lesson', version: 2 }],
      ['DELETE', '/api/v1/resources/:name/versions/:version', { name: 'lesson', version: 2 }],
      ['DELETE', '/api/v1/resources/:name/versions/:version', { name: 'lesson', version: 3 }],
    ])

    t = await (async () => {
      await t.close()
      return h.tracker({ dataDir })
    })()
    expect(await lessonVersion(t, 2)).toEqual(approved.body)
    expect(await lessonVersion(t, 3)).toEqual(draft.body)
    expect((await http(t, 'GET', '/resources')).body).toEqual([
      { name: 'lesson', versions: 1, latest: 3, approved: 1, removed: 2 },
    ])
    // the OpenAPI document has the route and its refusals
    const doc = (await http(t, 'GET', '/api/docs')).body
    const del = doc.paths['/api/v1/resources/{name}/versions/{version}'].delete
    expect(del.responses['409'].description).toContain('ERR_VERSION_IN_USE')
  })

  it('never approves, releases or re-registers a removed version under another manifest', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    await h.api(t, 'DELETE', '/resources/lesson/versions/2')
    await h.api(t, 'DELETE', '/resources/lesson/versions/3')

    const approve = await http(t, 'POST', '/resources/lesson/versions/3/approve')
    expect(approve.status).toBe(409)
    expect(approve.body.error.code).toBe('ERR_VERSION_REMOVED')
    expect(approve.body.error.message).toMatch(/^lesson v3 was removed on .* cannot be approved/)

    // a removed version is refused as removed, the draft one too (not "not approved"), on
    // either side of an A/B split; nothing is created
    const targets = { nodes: ['n0'] }
    for (const body of [
      { resource: 'lesson', version: 2, targets },
      { resource: 'lesson', version: 3, targets },
      { resource: 'lesson', version: 1, ab: { version: 2, percent: 50 }, targets },
      { resource: 'lesson', version: 2, ab: { version: 1, percent: 50 }, targets },
    ]) {
      const res = await http(t, 'POST', '/releases', body)
      expect(res.status, JSON.stringify(body)).toBe(409)
      expect(res.body.error.code).toBe('ERR_VERSION_REMOVED')
      expect(res.body.error.message).toMatch(/cannot be released/)
    }
    expect((await http(t, 'GET', '/releases')).body).toEqual([])

    // the origin retrying a registration that raced the removal: the removed record, no change
    const retry = await http(t, 'POST', '/resources/lesson/versions', {
      version: 2,
      manifestCid: lessonCid(2),
      size: 1000,
      type: 'video',
    })
    expect(retry.status).toBe(201)
    expect(retry.body).toMatchObject({ version: 2, status: 'removed' })
    // its number under another manifest: a conflict, as for any version
    const other = await http(t, 'POST', '/resources/lesson/versions', {
      version: 2,
      manifestCid: lessonCid(7),
      size: 1000,
      type: 'video',
    })
    expect(other.status).toBe(409)
    expect(other.body.error).toMatchObject({
      code: 'ERR_CONFLICT',
      message: expect.stringContaining('removed'),
    })
    expect(await lessonVersion(t, 2)).toMatchObject({ status: 'removed', manifestCid: lessonCid(2) })
    // the one left is released as before
    expect((await http(t, 'POST', '/releases', { resource: 'lesson', version: 1, targets })).status).toBe(201)
  })
})
