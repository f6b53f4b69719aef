/**
 * A version in use is not removed (409 `ERR_VERSION_IN_USE`, nothing changed), the refusal
 * saying why with counts and release ids: a node runs it, a running release carries it, it
 * is what a node should run, it is a rollback target, or a command carrying it is still out.
 * Once nodes run another version and nothing holds it, it is removed, and a node that comes
 * into the targets of the release that carried it later is not sent it. Real tracker on
 * disk, real agents on loopback; compaction by the sweep's `now`, not waited for.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { type ApiAnswer, http, releaseStatus, untilCompleted } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

const DAY = 24 * 3600 * 1000

/** `DELETE` of lesson v`v`, asserted refused as in use with lesson v`v` still as it was. */
async function refused(t: Tracker, v: number): Promise<ApiAnswer['body']['error']> {
  const before = await versionOf(t, v)
  const res = await http(t, 'DELETE', `/resources/lesson/versions/${v}`)
  expect(res.status, JSON.stringify(res.body)).toBe(409)
  expect(res.body.error.code).toBe('ERR_VERSION_IN_USE')
  expect(res.body.error.message).toMatch(new RegExp(`^lesson v${v} is in use: .*\\. First .*\\.$`))
  expect(await versionOf(t, v)).toEqual(before)
  return res.body.error
}

async function versionOf(t: Tracker, v: number): Promise<{ status: string }> {
  const list = (await http(t, 'GET', '/resources/lesson/versions')).body as Array<{
    version: number
    status: string
  }>
  return list.find((x) => x.version === v) as { status: string }
}

const lesson = (c: MemoryContent): string | undefined => c.table.get('lesson')

describe('a version in use', () => {
  it('is refused while nodes run it, a release carries it, nodes should run it or roll back to it; removed once nothing holds it', {
    timeout: 60_000,
  }, async () => {
    const { t, contents } = await h.withAgents(3)
    // (b) a running release carries it, (a) its canary runs it: held at a manual gate
    const r1 = (
      await http(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 1,
        targets: { campuses: ['bj-1'] },
        stages: [{ percent: 33, gate: 'manual' }, { percent: 100 }],
      })
    ).body.id as string
    await until(async () => (await releaseStatus(t, r1)).counts.active === 1, 'the canary active')
    let e = await refused(t, 1)
    expect(e.message).toContain(`1 node run it; release ${r1} (running, 3 nodes) is releasing it`)
    expect(e.message).toContain('abort it')
    expect(e.details).toMatchObject({
      running: 1,
      live: { total: 1, releases: [{ id: r1, status: 'running', nodes: 3 }] },
    })

    // (a) and (c): every node runs it, and the completed release says they should
    await http(t, 'POST', `/releases/${r1}/advance`)
    await untilCompleted(t, r1)
    e = await refused(t, 1)
    expect(e.message).toContain(
      `3 nodes run it; it is what 3 nodes should run, by release ${r1} (completed, 3 nodes)`,
    )
    expect(e.message).toContain('release another version to those nodes')
    expect(e.details).toMatchObject({
      running: 3,
      live: { total: 0 },
      desired: { total: 1 },
      rollback: { total: 0 },
    })

    // (d) every node runs v2 now, by a release to them by name: v1 is what its rollback sends
    const r2 = (
      await http(t, 'POST', '/releases', {
        resource: 'lesson',
        version: 2,
        targets: { nodes: ['n0', 'n1', 'n2'] },
      })
    ).body.id as string
    await untilCompleted(t, r2)
    await until(() => contents.every((c) => lesson(c) === lessonCid(2)), 'every node on v2')
    e = await refused(t, 1)
    expect(e.message).toBe(
      `lesson v1 is in use: it is the rollback target of release ${r2} (completed, 3 nodes). First wait until that release is compacted (the tracker's --release-retention), or compact it now (POST /releases/<id>/compact, dandelion release compact <id>): it can no longer be rolled back then.`,
    )
    expect(e.details).toEqual({
      running: 0,
      live: { total: 0, releases: [] },
      desired: { total: 0, releases: [] },
      rollback: { total: 1, releases: [{ id: r2, status: 'completed', nodes: 3 }] },
      commands: 0,
    })
    await refused(t, 2)

    // (c) alone: a node registered in the campus, not enrolled yet, should run v1 (the campus
    // release still covers it), while the release to the three by name is compacted
    await h.api(t, 'POST', '/nodes', { id: 'spare', campus: 'bj-1' })
    await t.retention.sweep({ now: Date.now() + 31 * DAY })
    expect((await releaseStatus(t, r2)).release.compacted).toBeDefined()
    e = await refused(t, 1)
    expect(e.message).toMatch(
      new RegExp(
        `^lesson v1 is in use: it is what 1 node should run, by release ${r1} \\(completed, 1 node\\)\\. First release another version`,
      ),
    )

    // nothing holds it any more: removed, while v2 stays in use
    await h.api(t, 'DELETE', '/nodes/spare')
    const removed = await http(t, 'DELETE', '/resources/lesson/versions/1')
    expect(removed.status).toBe(200)
    expect(removed.body).toMatchObject({ version: 1, status: 'removed' })
    await refused(t, 2)

    // a node enrolling into the campus later is not sent the removed version the campus
    // release carries: it keeps what it runs (nothing), out of sync, until another is released
    const late = await h.agent([t.channelUrl], 'n3', { campus: 'bj-1' })
    await until(() => late.agent.connected, 'late node connected')
    await until(async () => (await h.api(t, 'GET', '/nodes/n3')).connected === true, 'late node seen')
    expect(t.state.outbox.issued('n3')).toBe(0)
    expect(lesson(late.content as MemoryContent)).toBeUndefined()
    expect(await h.api(t, 'GET', '/nodes/n3/resources')).toMatchObject([
      { resource: 'lesson', desired: { version: 1, releaseId: r1 }, running: null, inSync: false },
    ])
    // a release of the version kept reaches it as ever
    const r3 = (
      await http(t, 'POST', '/releases', { resource: 'lesson', version: 2, targets: { nodes: ['n3'] } })
    ).body.id as string
    await untilCompleted(t, r3)
    expect(lesson(late.content as MemoryContent)).toBe(lessonCid(2))
  })

  it('is refused while a command carrying it may still reach a node', { timeout: 30_000 }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    // registered, never connected: its command waits in its outbox; the abort withdraws it,
    // and the node's first hello is to tell whether it held it
    await h.api(t, 'POST', '/nodes', { id: 'away', campus: 'sh-1' })
    const r = (
      await http(t, 'POST', '/releases', { resource: 'lesson', version: 2, targets: { nodes: ['away'] } })
    ).body.id as string
    let e = await refused(t, 2)
    expect(e.details).toMatchObject({ live: { total: 1 }, commands: 1 })
    await h.api(t, 'POST', `/releases/${r}/abort`)
    expect((await releaseStatus(t, r)).counts.withdrawn).toBe(1)
    e = await refused(t, 2)
    expect(e.message).toBe(
      'lesson v2 is in use: a command carrying it is still out to 1 node. First wait until those nodes have answered (or delete the nodes gone for good).',
    )
    await h.api(t, 'DELETE', '/nodes/away')
    expect((await http(t, 'DELETE', '/resources/lesson/versions/2')).body).toMatchObject({
      status: 'removed',
    })
  })
})
