/**
 * Reconciliation against what else is going on: a node that a newer release, still running,
 * has moved on is that release's (the older release completing must not take it back), and
 * a late member's entry is counted once however many machines held its id.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

const lesson = (c: { content: unknown }): string | undefined =>
  (c.content as MemoryContent).table.get('lesson')

const status = (t: Tracker, id: string) => h.api(t, 'GET', `/releases/${id}`)

/** A tracker whose campus bj-1 (one node, a) completed a release of lesson v1. */
async function completedCampusRelease(): Promise<{ t: Tracker; rel: { id: string } }> {
  const t = await h.tracker({ dataDir: await h.tmp() })
  await h.seed(t)
  const a = await h.agent([t.channelUrl], 'a', { campus: 'bj-1' })
  await until(() => a.agent.connected, 'a connected')
  const rel = await h.api(t, 'POST', '/releases', {
    resource: 'lesson',
    version: 1,
    targets: { campuses: ['bj-1'] },
  })
  await until(async () => (await status(t, rel.id)).release.status === 'completed', 'completed')
  return { t, rel }
}

describe('reconciliation beside other releases', () => {
  it('leaves a node a newer running release moved on alone when an older release completes', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const members = await Promise.all(['a', 'b'].map((id) => h.agent([t.channelUrl], id, { campus: 'bj-1' })))
    await until(() => members.every((m) => m.agent.connected), 'members connected')
    // the campus release: its canary first, held at a manual gate
    const older = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 50, gate: 'manual' }, { percent: 100 }],
    })
    await until(async () => (await status(t, older.id)).counts.active === 1, 'canary active')
    // a node enrolled in the campus meanwhile (not a member), then given v2 by a newer
    // release that is still running (held at its own manual gate)
    const n = await h.agent([t.channelUrl], 'n', { campus: 'bj-1' })
    await until(() => n.agent.connected, 'n connected')
    const newer = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { nodes: ['n'] },
      stages: [{ percent: 50, gate: 'manual' }, { percent: 100 }],
    })
    await until(() => lesson(n) === lessonCid(2), 'n on v2')
    await until(async () => (await status(t, newer.id)).counts.active === 1, 'n active in the newer release')
    const issued = t.state.outbox.issued('n')

    // the older release completes: its catch-up must not send n back to v1 under the newer one
    await h.api(t, 'POST', `/releases/${older.id}/advance`)
    await until(async () => (await status(t, older.id)).release.status === 'completed', 'older completed')
    // a reconnect reconciles too
    await n.agent.stop()
    const again = await h.agent([t.channelUrl], 'n', { campus: 'bj-1', key: n.key, content: n.content })
    await until(() => again.agent.connected, 'n reconnected')
    await t.engine.settle()
    expect(t.state.outbox.issued('n')).toBe(issued)
    expect(lesson(again)).toBe(lessonCid(2))
    expect((await status(t, older.id)).release).toMatchObject({ total: 2 })
    expect((await status(t, older.id)).release.joined).toBeUndefined()

    // the newer one completes: it is what n should run, and runs
    await h.api(t, 'POST', `/releases/${newer.id}/advance`)
    await until(async () => (await status(t, newer.id)).release.status === 'completed', 'newer completed')
    expect(await h.api(t, 'GET', '/nodes/n/resources')).toMatchObject([
      { resource: 'lesson', desired: { version: 2, releaseId: newer.id }, inSync: true },
    ])
  })

  it('counts a late member once when a machine replacing it under its id joins again', async () => {
    const { t, rel } = await completedCampusRelease()
    // n enrolls late and joins; its machine is replaced twice
    let n = await h.agent([t.channelUrl], 'n', { campus: 'bj-1' })
    for (let i = 0; i < 2; i++) {
      await until(() => lesson(n) === lessonCid(1), 'late member caught up')
      await until(async () => (await status(t, rel.id)).counts.active === 2, 'late member active')
      await n.agent.stop()
      await h.api(t, 'DELETE', '/nodes/n')
      n = await h.agent([t.channelUrl], 'n', { campus: 'bj-1' })
    }
    await until(() => lesson(n) === lessonCid(1), 'last replacement caught up')
    await until(async () => (await status(t, rel.id)).counts.active === 2, 'last replacement active')
    expect((await status(t, rel.id)).release).toMatchObject({ total: 2, joined: 1 })
  })

  it('counts a late member deleted before it answered as failed in the release result', async () => {
    const { t, rel } = await completedCampusRelease()
    // a late member whose place is queued while it is offline (moved into the campus)
    await h.api(t, 'POST', '/nodes', { id: 'n', campus: 'bj-2' })
    const n = await h.agent([t.channelUrl], 'n', { campus: 'bj-2' })
    await until(() => n.agent.connected, 'n enrolled')
    await n.agent.stop()
    await h.api(t, 'PATCH', '/nodes/n', { campus: 'bj-1' })
    await until(async () => (await status(t, rel.id)).release.joined === 1, 'n joined')
    // it never comes back: the operator deletes it
    await h.api(t, 'DELETE', '/nodes/n')
    const s = await status(t, rel.id)
    expect(s.counts).toMatchObject({ active: 1, failed: 1, pending: 0 })
    expect(s.release.result).toMatchObject({ outcome: 'partial', active: 1, failed: 1 })
  })
})
