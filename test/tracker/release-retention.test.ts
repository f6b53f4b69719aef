/**
 * Release retention (`tracker/rollout/retention.ts`): a release finished longer ago than the
 * retention period is compacted to counts (a node it still waits on keeps its state); one
 * that runs, finished recently or waits on nothing but such nodes is not. A compacted
 * release still answers status, refuses rollback, and decides what nodes run exactly as
 * before; the oldest ones that decide nothing are deleted, so releases can be created for
 * ever.
 *
 * Time is the sweep's `now`, not waited for: each pass is run by the test.
 */
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { runReleaseCommand, runTrackerCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, lessonCid, reportOutcomes, until } from './harness.ts'
import { metric } from './wire.ts'

const HOUR = 3_600_000
const h = new Harness()
afterEach(() => h.teardown())

/** The release's status (`GET /releases/:id`). */
// biome-ignore lint/suspicious/noExplicitAny: whatever JSON the API answers
const status = async (t: Tracker, id: string): Promise<any> => h.api(t, 'GET', `/releases/${id}`)

/** Creates a release of `lesson` and returns its id. */
const create = async (t: Tracker, body: object): Promise<string> =>
  (await h.api(t, 'POST', '/releases', { resource: 'lesson', ...body })).id

/** Creates a release and resolves with its id once it completed; `report` nodes answer `outcome`. */
async function completed(
  t: Tracker,
  body: object,
  report: string[] = [],
  outcome = 'active',
): Promise<string> {
  const id = await create(t, body)
  if (report.length > 0) await reportOutcomes(t.state, t.engine, report, outcome as 'active')
  await until(async () => (await status(t, id)).release.status === 'completed', 'release completed')
  return id
}

/** The tracker on `dataDir` again, on the port it had (its agents reconnect by themselves). */
async function restart(t: Tracker, dataDir: string, init: object): Promise<Tracker> {
  await t.close()
  return h.tracker({ dataDir, port: Number(new URL(t.url).port), ...init })
}

/** Keys stored under `prefix` in a closed tracker's state. */
async function storedKeys(dataDir: string, prefix: string): Promise<number> {
  const db = new Level<string, string>(join(dataDir, 'state'), { valueEncoding: 'utf8' })
  let n = 0
  for await (const _ of db.keys({ gte: prefix, lt: `${prefix}\xff` })) n++
  await db.close()
  return n
}

/** `POST /releases/:id/rollback` as it answers, refusals included. */
// biome-ignore lint/suspicious/noExplicitAny: whatever JSON the API answers
async function rollback(t: Tracker, id: string): Promise<{ status: number; body: any }> {
  const res = await t.app.inject({
    method: 'POST',
    url: `/api/v1/releases/${id}/rollback`,
    headers: { authorization: `Bearer ${ADMIN}` },
  })
  return { status: res.statusCode, body: res.json() }
}

const lesson = (c: { content: unknown }): string | undefined =>
  (c.content as MemoryContent).table.get('lesson')

describe('release retention', () => {
  it('compacts a release finished longer ago than the retention, not a live, a recent or an unanswered one', async () => {
    const dataDir = await h.tmp()
    const init = { releaseRetentionMs: HOUR }
    let t = await h.tracker({ dataDir, ...init })
    await h.seed(t)
    const agents = await Promise.all(
      ['n0', 'n1', 'n2'].map((id) => h.agent([t.channelUrl], id, { campus: 'bj-1' })),
    )
    await until(() => agents.every((a) => a.agent.connected), 'agents connected')
    // nodes that never connect: the test answers for them, or nobody does
    for (const [id, campus] of [
      ['off0', 'sh-1'],
      ['off1', 'sh-1'],
      ['b2', 'bj-2'],
    ])
      await h.api(t, 'POST', '/nodes', { id, campus })

    const old = await completed(t, { version: 1, targets: { campuses: ['bj-1'] } })
    // finished (rolled back), but its node has yet to answer the revert
    const reverting = await completed(t, { version: 1, targets: { nodes: ['off0'] } }, ['off0'])
    await h.api(t, 'POST', `/releases/${reverting}/rollback`)
    // running: its node is offline
    const live = await create(t, { version: 2, targets: { nodes: ['off1'] } })
    const rolledBackAt = t.state.releases.get(reverting).finishedAt!
    await until(() => Date.now() > rolledBackAt, 'the clock moved on')
    const recent = await completed(t, { version: 2, targets: { nodes: ['b2'] } }, ['b2'])
    const recentAt = t.state.releases.get(recent).finishedAt!
    expect(t.state.releases.get(old).finishedAt).toBeLessThan(recentAt)

    const before = await status(t, old)
    const issued = agents.map((_, i) => t.state.outbox.issued(`n${i}`))
    // the recent release finished less than the retention before `now`, the others more
    const first = await t.retention.sweep({ now: recentAt + HOUR - 1 })
    expect(first).toMatchObject({ compacted: 1, nodes: 3, deleted: 0 })
    // its per-node states are gone from memory, the writers' and the readers'
    expect(t.state.releases.nodes.has(old)).toBe(false)
    expect(t.state.committed.releases.nodes.has(old)).toBe(false)
    for (const id of [reverting, live, recent]) expect(t.state.releases.get(id).compacted).toBeUndefined()
    expect(await metric(t, 'dandelion_tracker_releases_compacted')).toBe(1)
    expect(await metric(t, 'dandelion_tracker_releases_kept')).toBe(4)

    // its status counts as before, and says it is compacted
    const after = await status(t, old)
    for (const k of ['counts', 'stages', 'variants', 'timedOut', 'late', 'bytes'])
      expect(after[k], k).toEqual(before[k])
    expect(after.release.result).toEqual(before.release.result)
    expect(after.compacted).toEqual({ at: recentAt + HOUR - 1, nodes: 3, held: 0 })
    expect(after.release).toMatchObject({
      status: 'completed',
      compacted: { nodes: 3, counts: { active: 3 } },
    })
    expect(await h.api(t, 'GET', `/releases/${old}/nodes`)).toEqual({
      nodes: [],
      compacted: { at: recentAt + HOUR - 1, nodes: 3, counts: { active: 3 } },
    })
    // it cannot be rolled back: what each node ran before is gone
    const refused = await rollback(t, old)
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('ERR_RELEASE_COMPACTED')
    expect(refused.body.error.message).toContain('release the version you want the nodes on instead')
    // it still says what its campus runs
    expect(await h.api(t, 'GET', '/nodes/n0/resources')).toMatchObject([
      { desired: { releaseId: old, version: 1, compacted: true }, inSync: true },
    ])

    // later, the recent one is compacted too; the ones still waiting on a node never are
    const second = await t.retention.sweep({ now: recentAt + 10 * HOUR })
    expect(second).toMatchObject({ compacted: 1, nodes: 1 })
    expect(t.state.releases.get(recent).compacted).toBeDefined()
    expect(t.state.releases.get(reverting).compacted).toBeUndefined()
    expect(t.state.releases.get(live).compacted).toBeUndefined()

    // on disk: no per-node state left of the compacted ones; their members, as they decide
    await t.close()
    expect(await storedKeys(dataDir, `rn!${old}!`)).toBe(0)
    expect(await storedKeys(dataDir, `rn!${recent}!`)).toBe(0)
    expect(await storedKeys(dataDir, `rn!${reverting}!`)).toBe(1)
    expect(await storedKeys(dataDir, `rn!${live}!`)).toBe(1)
    expect(await storedKeys(dataDir, `rm!${old}`)).toBe(1)

    // a restart keeps it so; the agents' hellos send them nothing
    t = await restart(t, dataDir, init)
    await until(() => agents.every((a) => a.agent.connected), 'agents reconnected')
    const reloaded = await status(t, old)
    for (const k of ['counts', 'stages', 'variants', 'compacted']) expect(reloaded[k], k).toEqual(after[k])
    expect((await rollback(t, old)).body.error.code).toBe('ERR_RELEASE_COMPACTED')
    expect(agents.map((_, i) => t.state.outbox.issued(`n${i}`))).toEqual(issued)
  })

  it('decides after compaction what it decided before: every node’s version and A/B side, nothing sent again', async () => {
    const dataDir = await h.tmp()
    const init = { releaseRetentionMs: HOUR }
    let t = await h.tracker({ dataDir, ...init })
    await h.seed(t)
    await h.api(t, 'POST', '/resources/lesson/versions/3/approve')
    // members with agents: m0 fails its place, m1 moves on to a release aborted later
    const m = await Promise.all(
      ['m0', 'm1', 'm2', 'm3'].map((id) => h.agent([t.channelUrl], id, { campus: 'bj-1' })),
    )
    await until(() => m.every((a) => a.agent.connected), 'agents connected')
    const failing = (m[0].content as MemoryContent).failing
    for (const v of [1, 2]) failing.add(lessonCid(v))
    // members without agents, whose outcomes the test reports
    const quiet = Array.from({ length: 60 }, (_, i) => `q${String(i).padStart(2, '0')}`)
    for (const id of quiet) await h.api(t, 'POST', '/nodes', { id, campus: 'bj-1' })
    const ab = await create(t, {
      version: 1,
      ab: { version: 2, percent: 50 },
      targets: { campuses: ['bj-1'] },
    })
    await reportOutcomes(t.state, t.engine, quiet.slice(0, 55), 'active')
    await reportOutcomes(t.state, t.engine, quiet.slice(55), 'failed')
    await until(async () => (await status(t, ab)).release.status === 'completed', 'A/B release completed')
    failing.clear()
    await h.api(t, 'POST', '/nodes', { id: 'away', campus: 'sh-1' })
    const moved = await create(t, { version: 3, targets: { nodes: ['m1', 'away'] } })
    await until(async () => (await status(t, moved)).counts.active === 1, 'm1 runs v3')
    await h.api(t, 'POST', `/releases/${moved}/abort`)
    // nodes that are no members of it
    const others = Array.from({ length: 20 }, (_, i) => `o${String(i).padStart(2, '0')}`)
    for (const id of others) await h.api(t, 'POST', '/nodes', { id, campus: 'bj-1' })

    const ids = [...m.map((_, i) => `m${i}`), ...quiet, ...others]
    const desired = async (on: Tracker): Promise<Record<string, unknown>> => {
      const out: Record<string, unknown> = {}
      for (const id of ids) {
        const [view] = await h.api(on, 'GET', `/nodes/${id}/resources`)
        const { state: _s, joinedAt: _j, compacted: _c, ...d } = view.desired
        out[id] = d
      }
      return out
    }
    const before = await desired(t)
    expect(before.m1).toMatchObject({ releaseId: ab })
    expect(lesson(m[1])).toBe(lessonCid(3))
    expect(lesson(m[0])).toBeUndefined()
    const sides = new Set(Object.values(before).map((d) => (d as { variant: string }).variant))
    expect(sides).toEqual(new Set(['A', 'B']))
    const issued = m.map((_, i) => t.state.outbox.issued(`m${i}`))

    // both finished longer than the retention ago; the aborted one keeps the node it
    // withdrew from, which has yet to say hello, and folds m1
    const abortedAt = t.state.releases.get(moved).finishedAt!
    expect(await t.retention.sweep({ now: abortedAt + HOUR })).toMatchObject({ compacted: 2, nodes: 65 })
    expect(t.state.releases.get(moved).compacted).toMatchObject({ nodes: 1, counts: { active: 1 } })
    expect([...(t.state.releases.nodes.get(moved)?.keys() ?? [])]).toEqual(['away'])
    // who its members were is kept, and the sides the A/B hash would not give them
    const kept = t.state.releases.membersOf(ab)!
    expect(kept.ids).toEqual([...m.map((_, i) => `m${i}`), ...quiet].sort())
    expect(await desired(t)).toEqual(before)

    // restarted, every agent says hello and is reconciled: the member that failed is not
    // sent the version again (release again to retry), nor the one that moved on
    t = await restart(t, dataDir, init)
    await until(() => m.every((a) => a.agent.connected), 'agents reconnected')
    expect(await desired(t)).toEqual(before)
    expect(m.map((_, i) => t.state.outbox.issued(`m${i}`))).toEqual(issued)
    expect(lesson(m[1])).toBe(lessonCid(3))
    expect(lesson(m[0])).toBeUndefined()

    // a node enrolled now joins the compacted release, on the side it was to get
    const late = await h.agent([t.channelUrl], 'o00', { campus: 'bj-1' })
    const want = before.o00 as { version: number; variant: string }
    await until(() => lesson(late) === lessonCid(want.version), 'late member caught up')
    await until(async () => (await status(t, ab)).counts.active === 59, 'late member counted')
    const s = await status(t, ab)
    expect(s.release).toMatchObject({ joined: 1, total: 65, result: { active: 59, failed: 6 } })
    const { nodes, compacted } = await h.api(t, 'GET', `/releases/${ab}/nodes`)
    expect(nodes).toMatchObject([{ nodeId: 'o00', state: 'active', variant: want.variant }])
    expect(compacted).toMatchObject({ nodes: 64 })
  })

  it('deletes compacted releases that decide nothing, so releases are created past the cap', async () => {
    // a cap of 10 releases keeps 1 that decides nothing as history
    const t = await h.tracker({ dataDir: await h.tmp(), releaseRetentionMs: 1, maxReleases: 10 })
    await h.seed(t)
    for (const id of ['p0', 'p1']) await h.api(t, 'POST', '/nodes', { id, campus: 'bj-1' })
    // dashboards hear of each release compacted and deleted
    const told: Array<{ type: string; releaseId: string }> = []
    t.engine.on('event', (e) => {
      if (e.type === 'release.compacted' || e.type === 'release.deleted') told.push(e)
    })
    // the whole campus first, then p0 alone, again and again: none of those covers p1
    const campus = await completed(t, { version: 1, targets: { campuses: ['bj-1'] } }, ['p0', 'p1'])
    const made: string[] = []
    let lastActive = campus
    for (let i = 0; i < 30; i++) {
      const failed = i % 7 === 3
      const id = await completed(
        t,
        { version: 1 + (i % 2), targets: { nodes: ['p0'] } },
        ['p0'],
        failed ? 'failed' : 'active',
      )
      made.push(id)
      if (!failed) lastActive = id
      await t.retention.sweep({ now: Date.now() + HOUR })
      // the campus release and the latest one decide; the rest is gone
      expect(t.state.releases.releases.size).toBeLessThanOrEqual(2)
    }
    expect(made.length + 1).toBeGreaterThan(t.state.releases.maxReleases)
    expect([...t.state.releases.releases.keys()].sort()).toEqual([campus, lastActive].sort())
    expect((await h.api(t, 'GET', '/releases')).map((r: { id: string }) => r.id)).toEqual([
      lastActive,
      campus,
    ])
    expect((await h.api(t, 'GET', '/nodes/p0/resources'))[0].desired).toMatchObject({ releaseId: lastActive })
    expect((await h.api(t, 'GET', '/nodes/p1/resources'))[0].desired).toMatchObject({ releaseId: campus })
    const gone = await t.app.inject({
      method: 'GET',
      url: `/api/v1/releases/${made[0]}`,
      headers: { authorization: `Bearer ${ADMIN}` },
    })
    expect(gone.statusCode).toBe(404)
    const deleted = made.filter((id) => id !== lastActive)
    expect(
      told
        .filter((e) => e.type === 'release.deleted')
        .map((e) => e.releaseId)
        .sort(),
    ).toEqual(deleted.sort())
    for (const id of made)
      expect(told.some((e) => e.type === 'release.compacted' && e.releaseId === id)).toBe(true)
    // nothing of the deleted ones is left in memory
    for (const id of made.filter((id) => id !== lastActive)) {
      expect(t.state.releases.nodes.has(id)).toBe(false)
      expect(t.state.releases.membersOf(id)).toBeUndefined()
      expect(t.state.committed.releases.releases.has(id)).toBe(false)
    }
  })

  it('still tells how each campus and city did once compacted, across a restart, late members added', async () => {
    const dataDir = await h.tmp()
    const init = { releaseRetentionMs: HOUR }
    let t = await h.tracker({ dataDir, ...init })
    await h.seed(t)
    const outcomes: Array<[string, string, 'active' | 'failed']> = [
      ['b1a', 'bj-1', 'active'],
      ['b1b', 'bj-1', 'failed'],
      ['b2a', 'bj-2', 'active'],
      ['s1a', 'sh-1', 'active'],
      ['s1b', 'sh-1', 'failed'],
      ['s1c', 'sh-1', 'failed'],
    ]
    for (const [id, campus] of outcomes) await h.api(t, 'POST', '/nodes', { id, campus })
    const id = await create(t, { version: 1, targets: { cities: ['bj', 'sh'] } })
    for (const outcome of ['active', 'failed'] as const)
      await reportOutcomes(
        t.state,
        t.engine,
        outcomes.filter(([, , o]) => o === outcome).map(([n]) => n),
        outcome,
      )
    await until(async () => (await status(t, id)).release.status === 'completed', 'release completed')
    const before = await status(t, id)
    expect(before.campuses['bj-1']).toMatchObject({ active: 1, failed: 1 })
    expect(before.cities.sh).toMatchObject({ active: 1, failed: 2 })

    const finishedAt = t.state.releases.get(id).finishedAt!
    expect(await t.retention.sweep({ now: finishedAt + HOUR })).toMatchObject({ compacted: 1, nodes: 6 })
    const after = await status(t, id)
    expect(after.compacted).toBeDefined()
    expect(after.campuses).toEqual(before.campuses)
    expect(after.cities).toEqual(before.cities)

    // kept with the rest of the summary, on disk: a restart answers the same
    t = await restart(t, dataDir, init)
    const reloaded = await status(t, id)
    expect(reloaded.campuses).toEqual(before.campuses)
    expect(reloaded.cities).toEqual(before.cities)
    // and `dandelion release status` prints the cities' rows as before
    const printed = await captureOutput(() =>
      runReleaseCommand(['status', id, '--tracker', t.url, '--token', ADMIN]),
    )
    expect(printed.out).toMatch(/^city bj\s+0\s+0\s+0\s+2\s+1\s/m)
    expect(printed.out).toMatch(/^city sh\s+0\s+0\s+0\s+1\s+2\s/m)
    expect(printed.out).toContain('kept as counts only (no rollback)')

    // a node enrolled into bj-1 now joins as a late member: counted with the folded ones
    await h.agent([t.channelUrl], 'b1c', { campus: 'bj-1' })
    await until(async () => (await status(t, id)).campuses['bj-1'].active === 2, 'late member counted')
    const joined = await status(t, id)
    expect(joined.campuses['bj-1']).toMatchObject({ active: 2, failed: 1 })
    expect(joined.cities.bj).toMatchObject({ active: 3, failed: 1 })
    expect(joined.campuses['sh-1']).toEqual(before.campuses['sh-1'])
  })

  it('keeps every release in full with a retention of 0', async () => {
    const t = await h.tracker({ releaseRetentionMs: 0 })
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'p0', campus: 'bj-1' })
    const id = await completed(t, { version: 1, targets: { nodes: ['p0'] } }, ['p0'])
    expect(await t.retention.sweep({ now: Date.now() + 1000 * HOUR })).toMatchObject({ compacted: 0 })
    expect(t.state.releases.get(id).compacted).toBeUndefined()
    expect(t.state.releases.nodes.get(id)?.size).toBe(1)
  })

  it('takes the retention from `dandelion tracker --release-retention`, and refuses one it cannot read', async () => {
    const tokens = ['--admin-token', ADMIN, '--enrollment-token', 'enroll-token-for-tests', '--port', '0']
    await expect(runTrackerCommand(['--release-retention', 'a month', ...tokens])).rejects.toThrow(
      /--release-retention "a month": a duration such as 30d/,
    )
  })
})
