/**
 * The admin API's audit trail (`GET /api/v1/audit`): every change answered with success is
 * recorded with when, the route, its ids and body; refusals and reads are not; it survives a
 * restart and keeps the newest 10,000 (who made each change: `operator-tokens.test.ts`). Real
 * tracker on disk, the API over HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MAX_AUDIT_ENTRIES } from '../../tracker/constants.ts'
import { TrackerState } from '../../tracker/state/index.ts'
import { Harness, until } from './harness.ts'
import { createRelease, http } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('the audit trail', () => {
  it('records each change made through the admin API, newest first, across a restart', {
    timeout: 30_000,
  }, async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir, viewerToken: 'viewer-token-audit' })
    await h.api(t, 'POST', '/cities', { id: 'bj', name: 'Beijing' })
    await h.api(t, 'POST', '/campuses', { id: 'bj-1', city: 'bj', name: 'BJ one' })
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    await h.api(t, 'PATCH', '/nodes/n0', { labels: ['lab'] })
    // not recorded: a refusal, a read, a change without the admin token
    expect((await http(t, 'DELETE', '/cities/bj')).status).toBe(409)
    await h.api(t, 'GET', '/nodes')
    const viewer = await fetch(`${t.url}/api/v1/cities`, {
      method: 'POST',
      headers: { authorization: 'Bearer viewer-token-audit', 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'sh', name: 'Shanghai' }),
    })
    expect(viewer.status).toBe(403)
    await h.api(t, 'DELETE', '/nodes/n0')
    await until(async () => (await h.api(t, 'GET', '/audit')).length === 5, 'five changes recorded')
    const trail = await h.api(t, 'GET', '/audit')
    expect(trail.map((e: { method: string; route: string }) => `${e.method} ${e.route}`)).toEqual([
      'DELETE /api/v1/nodes/:id',
      'PATCH /api/v1/nodes/:id',
      'POST /api/v1/nodes',
      'POST /api/v1/campuses',
      'POST /api/v1/cities',
    ])
    expect(trail[0]).toMatchObject({ params: { id: 'n0' }, status: 204, seq: 5, at: expect.any(Number) })
    expect(JSON.parse(trail[1].body)).toEqual({ labels: ['lab'] })
    // a page back from an entry
    expect((await h.api(t, 'GET', '/audit?limit=2&before=4')).map((e: { seq: number }) => e.seq)).toEqual([
      3, 2,
    ])

    await t.close()
    t = await h.tracker({ dataDir })
    expect((await h.api(t, 'GET', '/audit')).map((e: { seq: number }) => e.seq)).toEqual([5, 4, 3, 2, 1])
    // numbering goes on after a restart
    await h.api(t, 'POST', '/cities', { id: 'sh', name: 'Shanghai' })
    await until(
      async () => (await h.api(t, 'GET', '/audit?limit=1'))[0]?.seq === 6,
      'the sixth change recorded',
    )
  })

  it('records a rollout operator’s steps with their ids', { timeout: 30_000 }, async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n0', campus: 'bj-1' })
    const rel = await createRelease(t, { version: 1, targets: { campuses: ['bj-1'] } })
    await h.api(t, 'POST', `/releases/${rel}/pause`)
    await until(
      async () => (await h.api(t, 'GET', '/audit?limit=1'))[0]?.route === '/api/v1/releases/:id/:op',
    )
    const [pause, create] = await h.api(t, 'GET', '/audit?limit=2')
    expect(pause).toMatchObject({ method: 'POST', params: { id: rel, op: 'pause' }, status: 200 })
    expect(create).toMatchObject({ route: '/api/v1/releases', status: 201 })
    expect(JSON.parse(create.body)).toMatchObject({ resource: 'lesson', version: 1 })
  })

  it('keeps the newest entries only', async () => {
    const state = new TrackerState()
    await state.open()
    const tx = state.tx()
    for (let i = 0; i < MAX_AUDIT_ENTRIES + 5; i++)
      state.audit.record(tx, { at: i, method: 'POST', route: '/api/v1/cities', status: 201 })
    await tx.commit()
    const all = state.committed.audit.page(MAX_AUDIT_ENTRIES + 10)
    expect(all).toHaveLength(MAX_AUDIT_ENTRIES)
    expect(all.at(-1)?.seq).toBe(6)
    // entries written before operator tokens name no actor: read as they are, matched by no ?actor=
    expect(all[0]).not.toHaveProperty('actor')
    expect(state.committed.audit.page(10, undefined, 'admin-token')).toEqual([])
    await state.close()
  })
})
