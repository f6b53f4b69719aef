/**
 * Reconciliation: a node that enrolls after a release completed in its campus (a new node,
 * a replacement machine) or is moved into another campus is sent, through the command
 * channel, the version that campus runs, as a late member of that release: counted in its
 * status, reverted by its rollback, kept across tracker restarts. A node already running
 * that version is sent nothing.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Tracker } from '../../tracker/index.ts'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** Creates a release and resolves with its id once it completed. */
async function released(t: Tracker, body: object): Promise<string> {
  const rel = await h.api(t, 'POST', '/releases', { resource: 'lesson', ...body })
  await until(
    async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
    'release completed',
  )
  return rel.id
}

/** The tracker on `dataDir` again, on the port it had (its agents reconnect by themselves). */
async function restart(t: Tracker, dataDir: string): Promise<Tracker> {
  await t.close()
  return h.tracker({ dataDir, port: Number(new URL(t.url).port) })
}

const lesson = (c: { content: unknown }): string | undefined =>
  (c.content as MemoryContent).table.get('lesson')

describe('reconciliation', () => {
  it('sends a node enrolled after a release completed the version, across restarts, and its rollback reverts it', async () => {
    const dataDir = await h.tmp()
    let t = await h.tracker({ dataDir })
    await h.seed(t)
    const early = await Promise.all(['n0', 'n1'].map((id) => h.agent([t.channelUrl], id, { campus: 'bj-1' })))
    await until(() => early.every((n) => n.agent.connected), 'early nodes connected')
    const id = await released(t, { version: 1, targets: { campuses: ['bj-1'] } })

    // restarted between the release and the new node's enrollment
    t = await restart(t, dataDir)
    const late = await h.agent([t.channelUrl], 'n2', { campus: 'bj-1' })
    await until(() => lesson(late) === lessonCid(1), 'late node caught up')
    const status = async () => h.api(t, 'GET', `/releases/${id}`)
    await until(async () => (await status()).counts.active === 3, 'late member active')
    expect((await status()).release).toMatchObject({ status: 'completed', total: 3, joined: 1 })
    expect((await status()).release.result).toMatchObject({ outcome: 'succeeded', active: 3 })
    expect(await h.api(t, 'GET', '/nodes/n2/resources')).toEqual([
      {
        resource: 'lesson',
        desired: {
          resource: 'lesson',
          version: 1,
          manifestCid: lessonCid(1),
          releaseId: id,
          variant: 'A',
          state: 'active',
          joinedAt: expect.any(Number),
        },
        running: { version: 1, manifestCid: lessonCid(1), releaseId: id },
        inSync: true,
      },
    ])

    // restarted again: the late member is still one, and the rollback takes it back too
    t = await restart(t, dataDir)
    await until(() => [...early, late].every((n) => n.agent.connected), 'reconnected')
    // its next connection sends it nothing more: it runs what it should
    expect(t.state.outbox.issued('n2')).toBe(1)
    await h.api(t, 'POST', `/releases/${id}/rollback`)
    await until(() => [...early, late].every((n) => lesson(n) === undefined), 'every node reverted')
    await until(async () => (await status()).counts.reverted === 3, 'reverted counted')
    const { nodes } = await h.api(t, 'GET', `/releases/${id}/nodes`)
    expect(nodes.find((n: { nodeId: string }) => n.nodeId === 'n2')).toMatchObject({ state: 'reverted' })
    // rolled back: it no longer says what the campus runs
    expect(await h.api(t, 'GET', '/nodes/n2/resources')).toEqual([])
  })

  it('sends a node moved to another campus that campus’s version, and a node already on it nothing', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const a = await h.agent([t.channelUrl], 'a', { campus: 'bj-1' })
    const b = await h.agent([t.channelUrl], 'b', { campus: 'bj-2' })
    const c = await h.agent([t.channelUrl], 'c', { campus: 'sh-1' })
    await until(() => [a, b, c].every((n) => n.agent.connected), 'connected')
    await released(t, { version: 2, targets: { nodes: ['c'] } })
    await released(t, { version: 1, targets: { campuses: ['bj-1'] } })
    const bj2 = await released(t, { version: 2, targets: { campuses: ['bj-2'] } })
    expect([lesson(a), lesson(b), lesson(c)]).toEqual([lessonCid(1), lessonCid(2), lessonCid(2)])

    // a is moved while connected: it gets bj-2's version, as a late member of that release
    const moved = await h.api(t, 'PATCH', '/nodes/a', { campus: 'bj-2' })
    expect(moved).toMatchObject({ campus: 'bj-2', connected: true })
    await until(() => lesson(a) === lessonCid(2), 'moved node switched')
    await until(async () => (await h.api(t, 'GET', `/releases/${bj2}`)).counts.active === 2, 'counted')
    const rn = (await h.api(t, 'GET', `/releases/${bj2}/nodes`)).nodes.find(
      (n: { nodeId: string }) => n.nodeId === 'a',
    )
    expect(rn).toMatchObject({ state: 'active', prev: { version: 1 }, joinedAt: expect.any(Number) })

    // c already runs v2: moved into bj-2 it is sent nothing, now or when it reconnects
    const before = t.state.outbox.issued('c')
    await h.api(t, 'PATCH', '/nodes/c', { campus: 'bj-2' })
    await c.agent.stop()
    const again = await h.agent([t.channelUrl], 'c', { campus: 'bj-2', key: c.key, content: c.content })
    await until(() => again.agent.connected, 'c reconnected')
    expect(t.state.outbox.issued('c')).toBe(before)
    expect((await h.api(t, 'GET', `/releases/${bj2}`)).release.joined).toBe(1)
    expect(await h.api(t, 'GET', '/nodes/c/resources')).toMatchObject([
      { resource: 'lesson', desired: { version: 2, releaseId: bj2 }, running: { version: 2 }, inSync: true },
    ])
  })

  it('sends a machine that replaces a deleted node under its id what the campus runs', async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const old = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => old.agent.connected, 'connected')
    const id = await released(t, { version: 1, targets: { campuses: ['bj-1'] } })
    // the machine dies; the operator frees its id and a new machine (a new key) enrolls
    await old.agent.stop()
    await h.api(t, 'DELETE', '/nodes/n0')
    const fresh = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => lesson(fresh) === lessonCid(1), 'replacement caught up')
    await until(async () => (await h.api(t, 'GET', `/releases/${id}`)).counts.active === 1, 'active')
    const { nodes } = await h.api(t, 'GET', `/releases/${id}/nodes`)
    expect(nodes).toHaveLength(1)
    expect(nodes[0]).toMatchObject({ nodeId: 'n0', state: 'active', joinedAt: expect.any(Number) })
    expect(nodes[0].deletedAt).toBeUndefined()
  })
})
