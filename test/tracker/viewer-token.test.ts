/**
 * The viewer token (`--viewer-token`): a dashboard or a monitoring job reads the admin API
 * with it (lists, a release's status, the event streams) and can change nothing. Real HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { trackerInitFromArgs } from '../../tracker/cli-tracker-args.ts'
import { createTracker } from '../../tracker/index.ts'
import { ADMIN, Harness } from './harness.ts'
import { createRelease } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

const VIEWER = 'viewer-token-for-tests'

async function as(
  token: string,
  url: string,
  method = 'GET',
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  return { status: res.status, text: await res.text() }
}

describe('the viewer token', () => {
  it('reads lists, status and events, and changes nothing', { timeout: 30_000 }, async () => {
    const t = await h.tracker({ viewerToken: VIEWER })
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    const rel = await createRelease(t, { version: 1, targets: { campuses: ['bj-1'] } })
    const api = `${t.url}/api/v1`
    for (const path of ['/nodes', '/cities', `/releases/${rel}`, '/releases', '/enrollment-tokens'])
      expect((await as(VIEWER, api + path)).status).toBe(200)
    // an event stream opens with it
    const events = await fetch(`${api}/events`, { headers: { authorization: `Bearer ${VIEWER}` } })
    expect(events.status).toBe(200)
    expect(events.headers.get('content-type')).toBe('text/event-stream')
    await events.body?.cancel()
    // every change is refused, saying why, and nothing changed
    for (const [method, path, body] of [
      ['POST', '/cities', { id: 'gz', name: 'Guangzhou' }],
      ['PATCH', '/nodes/n0', { campus: 'sh-1' }],
      ['DELETE', '/nodes/n0', undefined],
      ['POST', `/releases/${rel}/pause`, undefined],
      ['POST', '/enrollment-tokens', {}],
    ] as const) {
      const res = await as(VIEWER, api + path, method, body)
      expect(res.status).toBe(403)
      expect(JSON.parse(res.text).error).toMatchObject({
        code: 'ERR_FORBIDDEN',
        message: expect.stringContaining('only reads'),
      })
    }
    expect((await h.api(t, 'GET', '/nodes/n0')).campus).toBe('bj-1')
    expect((await h.api(t, 'GET', '/cities')).map((c: { id: string }) => c.id)).not.toContain('gz')
    // the admin token still does everything; a wrong token reads nothing
    expect((await as(ADMIN, `${api}/cities`, 'POST', { id: 'gz', name: 'Guangzhou' })).status).toBe(201)
    expect((await as('not-a-token-at-all', `${api}/nodes`)).status).toBe(403)
  })

  it('is taken from --viewer-token or DANDELION_VIEWER_TOKEN, and must not be the admin token', async () => {
    const base = ['--admin-token', ADMIN]
    expect(trackerInitFromArgs([...base, '--viewer-token', VIEWER], {}).viewerToken).toBe(VIEWER)
    expect(trackerInitFromArgs(base, { DANDELION_VIEWER_TOKEN: VIEWER }).viewerToken).toBe(VIEWER)
    expect('viewerToken' in trackerInitFromArgs(base, {})).toBe(false)
    await expect(createTracker({ adminToken: ADMIN, viewerToken: ADMIN, port: 0 })).rejects.toThrow(
      /differ from the admin token/,
    )
    await expect(createTracker({ adminToken: ADMIN, viewerToken: 'short', port: 0 })).rejects.toThrow(
      /--viewer-token/,
    )
  })
})
