/**
 * Partial compaction (`tracker/rollout/retention.ts`): a node unplugged for good no longer
 * keeps its whole release in full. A finished release quiet for the retention period is
 * compacted with the nodes that hold it open kept one by one: a node whose command is still
 * queued gets it when it comes back, reports, and is folded in by the next pass; a
 * withdrawal is still told at the next hello; a deleted node lets the release finish
 * compacting; the release is deleted only once nothing is held. Counts, desired versions and
 * A/B sides are the same throughout, across a restart too.
 *
 * Real tracker and agents on loopback; time is the sweep's `now`, not waited for.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { runReleaseCommand } from '../../tracker/cli.ts'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { captureOutput } from './cli-output.ts'
import { ADMIN, Harness, lessonCid, reportOutcomes, until } from './harness.ts'

const HOUR = 3_600_000
const h = new Harness()
afterEach(() => h.teardown())

/** The release's status (`GET /releases/:id`). */
// biome-ignore lint/suspicious/noExplicitAny: whatever JSON the API answers
const status = async (t: Tracker, id: string): Promise<any> => h.api(t, 'GET', `/releases/${id}`)

/** What the status counts of every node, folded and held alike. */
const COUNTED = ['counts', 'stages', 'variants', 'campuses', 'cities', 'timedOut', 'late', 'bytes']
const counted = async (t: Tracker, id: string): Promise<Record<string, unknown>> => {
  const s = await status(t, id)
  return Object.fromEntries(COUNTED.map((k) => [k, s[k]]))
}

/** Per node, what it should run of `lesson` and on which side (`GET /nodes/:id/resources`). */
async function desired(t: Tracker, ids: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const id of ids) {
    const [view] = await h.api(t, 'GET', `/nodes/${id}/resources`)
    const { resource, version, manifestCid, releaseId, variant } = view.desired
    out[id] = { resource, version, manifestCid, releaseId, variant }
  }
  return out
}

/** The tracker on `dataDir` again, on the port it had (its agents reconnect by themselves). */
async function restart(t: Tracker, dataDir: string, init: object): Promise<Tracker> {
  await t.close()
  return h.tracker({ dataDir, port: Number(new URL(t.url).port), ...init })
}

/** An agent in campus `campus` with a journal on disk, so that it can come back as itself. */
async function machine(t: Tracker, nodeId: string, campus: string) {
  const dir = await h.tmp()
  const a = await h.agent([t.channelUrl], nodeId, { campus, dir })
  return { ...a, dir }
}

const lesson = (c: unknown): string | undefined => (c as MemoryContent).table.get('lesson')

describe('partial compaction', () => {
  it('compacts a release with an offline node’s command still queued, keeps that node, delivers and folds it when it comes back', async () => {
    const dataDir = await h.tmp()
    const init = { releaseRetentionMs: HOUR }
    let t = await h.tracker({ dataDir, ...init })
    await h.seed(t)
    const agents = await Promise.all(
      ['n0', 'n1', 'n2', 'n3'].map((id) => h.agent([t.channelUrl], id, { campus: 'bj-1' })),
    )
    // `m` is enrolled in Shanghai, which runs nothing
    const m = await machine(t, 'm', 'sh-1')
    await until(() => m.agent.connected && agents.every((a) => a.agent.connected), 'agents connected')
    const quiet = Array.from({ length: 12 }, (_, i) => `q${String(i).padStart(2, '0')}`)
    for (const [i, id] of quiet.entries())
      await h.api(t, 'POST', '/nodes', { id, campus: i % 2 ? 'bj-2' : 'bj-1' })
    const id = (
      await h.api(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 1,
        ab: { version: 2, percent: 50 },
        targets: { cities: ['bj'] },
      })
    ).id
    await reportOutcomes(t.state, t.engine, quiet.slice(0, 10), 'active')
    await reportOutcomes(t.state, t.engine, quiet.slice(10), 'failed')
    await until(async () => (await status(t, id)).release.status === 'completed', 'release completed')

    // `m` is unplugged, then moved to a campus of Beijing: it joins the release late, its
    // `place` queued for a hello that does not come
    await m.agent.stop()
    await until(() => !t.channel.isConnected('m'), 'm offline')
    await h.api(t, 'PATCH', '/nodes/m', { campus: 'bj-2' })
    const joined = t.state.releases.nodes.get(id)?.get('m')
    expect(joined).toMatchObject({ state: 'pending' })
    const ids = ['n0', 'n1', 'n2', 'n3', ...quiet, 'm']
    const before = await counted(t, id)
    const wanted = await desired(t, ids)
    expect(new Set(Object.values(wanted).map((d) => (d as { variant: string }).variant))).toEqual(
      new Set(['A', 'B']),
    )

    // a month on, nothing from m: the rest is folded, m kept as it is
    const now = joined!.joinedAt! + HOUR
    expect(await t.retention.sweep({ now })).toMatchObject({ compacted: 1, nodes: 16, deleted: 0 })
    const check = async (on: Tracker): Promise<void> => {
      expect([...(on.state.releases.nodes.get(id)?.keys() ?? [])]).toEqual(['m'])
      expect(await counted(on, id)).toEqual(before)
      expect((await status(on, id)).compacted).toEqual({ at: now, nodes: 16, held: 1 })
      expect(await desired(on, ids)).toEqual(wanted)
      const { nodes } = await h.api(on, 'GET', `/releases/${id}/nodes`)
      expect(nodes).toMatchObject([
        { nodeId: 'm', state: 'pending', variant: (wanted.m as { variant: string }).variant },
      ])
      const refused = await on.app.inject({
        method: 'POST',
        url: `/api/v1/releases/${id}/rollback`,
        headers: { authorization: `Bearer ${ADMIN}` },
      })
      expect(refused.json().error.code).toBe('ERR_RELEASE_COMPACTED')
    }
    await check(t)
    // nothing more to fold while m is away: a later pass leaves it alone
    expect(await t.retention.sweep({ now: now + HOUR })).toMatchObject({ compacted: 0 })
    t = await restart(t, dataDir, init)
    await until(() => agents.every((a) => a.agent.connected), 'agents reconnected')
    await check(t)
    // `dandelion release status` says so
    const printed = await captureOutput(() =>
      runReleaseCommand(['status', id, '--tracker', t.url, '--token', ADMIN]),
    )
    expect(printed.out).toContain(
      '16 node(s) are kept as counts only (no rollback); 1 node(s) still held one by one',
    )

    // m comes back: its command is delivered, and its outcome recorded on its kept state
    const back = await h.agent([t.channelUrl], 'm', { campus: 'sh-1', key: m.key, dir: m.dir })
    const version = (wanted.m as { version: number }).version
    await until(() => lesson(back.content) === lessonCid(version), 'm runs what it was sent')
    await until(async () => (await status(t, id)).counts.active === 15, 'm counted active')
    const answered = await counted(t, id)
    expect(answered.counts).toEqual({ ...(before.counts as object), pending: 0, active: 15 })
    expect(await desired(t, ids)).toEqual(wanted)

    // the next pass folds it in like a late member
    expect(await t.retention.sweep({ now: now + 2 * HOUR })).toMatchObject({ compacted: 1, nodes: 1 })
    expect(t.state.releases.nodes.has(id)).toBe(false)
    expect(await counted(t, id)).toEqual(answered)
    expect((await status(t, id)).compacted).toEqual({ at: now, nodes: 17, held: 0 })
    expect(await desired(t, ids)).toEqual(wanted)
    expect(t.state.releases.isMember(id, 'm')).toBe(true)
  })

  it('keeps a compacted release that decides nothing while a node is held, and deletes it once the last is told or deleted', async () => {
    // a cap of 10 releases keeps 1 that decides nothing as history
    const init = { releaseRetentionMs: HOUR, maxReleases: 10 }
    const t = await h.tracker({ dataDir: await h.tmp(), ...init })
    await h.seed(t)
    const n0 = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    const w = await Promise.all(['w1', 'w2'].map((id) => machine(t, id, 'bj-1')))
    await until(() => n0.agent.connected && w.every((x) => x.agent.connected), 'agents connected')
    for (const x of w) await x.agent.stop()
    await until(() => !t.channel.isConnected('w1') && !t.channel.isConnected('w2'), 'w1 and w2 offline')
    // one release that decides what n0 runs, and one aborted while w1 and w2 were away
    const kept = (
      await h.api(t, 'POST', '/releases', { resource: 'lesson', version: 1, targets: { nodes: ['n0'] } })
    ).id
    await until(async () => (await status(t, kept)).release.status === 'completed', 'first release completed')
    const id = (
      await h.api(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 2,
        targets: { nodes: ['n0', 'w1', 'w2'] },
      })
    ).id
    await until(async () => (await status(t, id)).counts.active === 1, 'n0 runs v2')
    await h.api(t, 'POST', `/releases/${id}/abort`)
    expect((await status(t, id)).counts).toMatchObject({ active: 1, withdrawn: 2 })
    const before = await counted(t, id)
    const now = t.state.releases.get(id).finishedAt! + HOUR

    // compacted with w1 and w2 held: their hellos have yet to tell; decides nothing, one
    // more release than kept as history, and still not deleted
    expect(await t.retention.sweep({ now })).toMatchObject({ compacted: 2, nodes: 2, deleted: 0 })
    expect((await status(t, id)).compacted).toEqual({ at: now, nodes: 1, held: 2 })
    expect(await counted(t, id)).toEqual(before)

    // w2 is deleted: folded in, w1 still held
    await h.api(t, 'DELETE', '/nodes/w2')
    expect(await t.retention.sweep({ now: now + 1 })).toMatchObject({ compacted: 1, nodes: 1, deleted: 0 })
    expect([...(t.state.releases.nodes.get(id)?.keys() ?? [])]).toEqual(['w1'])

    // w1 comes back: its hello says it never got the command, which stays withdrawn
    const back = await h.agent([t.channelUrl], 'w1', { campus: 'bj-1', key: w[0].key, dir: w[0].dir })
    await until(
      () => t.state.releases.nodes.get(id)?.get('w1')?.withdrawnSeq === undefined,
      'withdrawal told',
    )
    expect(lesson(back.content)).toBeUndefined()
    expect(await t.retention.sweep({ now: now + 2 })).toMatchObject({ compacted: 1, nodes: 1, deleted: 1 })
    expect(t.state.releases.releases.has(id)).toBe(false)
    expect((await h.api(t, 'GET', '/nodes/n0/resources'))[0].desired).toMatchObject({ releaseId: kept })
  })
})
