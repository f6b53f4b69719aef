/**
 * A campus moved to another city (`POST /campuses` with the same id and a new city) brings
 * its nodes under that city's releases: they converge to what the city runs, as a node
 * moved to another campus does (`PATCH /nodes/:id`), without waiting for a reconnect.
 * Before, nothing was sent until each node happened to reconnect (a node with a steady
 * link: never), while `GET /nodes/:id/resources` showed it out of sync.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { createRelease, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

const serving = (c: unknown): string | undefined => (c as MemoryContent).table.get('lesson')

describe('a campus moved to another city', () => {
  it('has its connected nodes sent what the new city runs, as late members of its release', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const sh = await h.agent([t.channelUrl], 'sh-n0', { campus: 'sh-1' })
    const moved = await Promise.all(
      ['bj2-n0', 'bj2-n1'].map((id) => h.agent([t.channelUrl], id, { campus: 'bj-2' })),
    )
    await until(() => sh.agent.connected && moved.every((n) => n.agent.connected), 'agents connected')

    // Shanghai runs v2; campus bj-2 is still in Beijing, so not covered
    const id = await createRelease(t, { version: 2, targets: { cities: ['sh'] } })
    await untilCompleted(t, id)
    expect(serving(sh.content)).toBe(lessonCid(2))
    expect(moved.map((n) => serving(n.content))).toEqual([undefined, undefined])

    // the campus is re-assigned to Shanghai (renamed on the way): its nodes stay connected
    const put = await http(t, 'POST', '/campuses', { id: 'bj-2', city: 'sh', name: 'SH two' })
    expect(put.status).toBe(201)
    expect((await http(t, 'GET', '/nodes/bj2-n0')).body).toMatchObject({ city: 'sh', connected: true })

    await until(
      () => moved.every((n) => serving(n.content) === lessonCid(2)),
      'nodes of the moved campus serving what Shanghai runs',
      10_000,
    )
    await until(async () => (await releaseStatus(t, id)).counts.active === 3, 'late members active')
    const s = await releaseStatus(t, id)
    expect(s.release).toMatchObject({ status: 'completed', total: 3, joined: 2 })
    expect(s.cities.sh.active).toBe(3)
    for (const n of ['bj2-n0', 'bj2-n1']) {
      const [lesson] = (await http(t, 'GET', `/nodes/${n}/resources`)).body
      expect(lesson).toMatchObject({
        resource: 'lesson',
        inSync: true,
        desired: { releaseId: id, version: 2 },
      })
    }

    // a campus re-posted unchanged (or only renamed) sends nothing more
    const before = moved.map((n) => (n.content as MemoryContent).calls.length)
    expect(
      (await http(t, 'POST', '/campuses', { id: 'bj-2', city: 'sh', name: 'Shanghai two' })).status,
    ).toBe(201)
    expect((await releaseStatus(t, id)).release).toMatchObject({ total: 3, joined: 2 })
    expect(moved.map((n) => (n.content as MemoryContent).calls.length)).toEqual(before)
  })
})
