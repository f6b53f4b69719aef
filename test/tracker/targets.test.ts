import { afterEach, describe, expect, it } from 'vitest'
import type { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('release targets', () => {
  it('take no new node while the release runs: one enrolled in a targeted campus meanwhile joins it once it completes', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const early = await Promise.all(['n0', 'n1'].map((id) => h.agent([t.channelUrl], id, { campus: 'bj-1' })))
    await until(() => early.every((n) => n.agent.connected), 'early nodes connected')
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
      stages: [{ percent: 50, gate: 'manual' }, { percent: 100 }],
    })
    const status = async () => h.api(t, 'GET', `/releases/${rel.id}`)
    await until(async () => (await status()).counts.active === 1, 'canary active')
    // enrolled in the targeted campus while the release holds at its manual gate
    const late = await h.agent([t.channelUrl], 'n2', { campus: 'bj-1' })
    await until(() => late.agent.connected, 'late node connected')
    expect(await h.api(t, 'GET', '/nodes/n2')).toMatchObject({ campus: 'bj-1' })
    // the running release did not take it in (its stages are what they were planned)
    expect((await status()).release.total).toBe(2)
    expect((late.content as MemoryContent).calls).toEqual([])
    await h.api(t, 'POST', `/releases/${rel.id}/advance`)
    await until(async () => (await status()).release.status === 'completed', 'release completed')

    // completed: the late node joins it, in the last stage
    await until(
      () => (late.content as MemoryContent).table.get('lesson') === lessonCid(1),
      'late node caught up',
    )
    await until(async () => (await status()).counts.active === 3, 'late member active')
    const done = await status()
    expect(done.release).toMatchObject({ total: 3, joined: 1, status: 'completed' })
    expect(done.stages.map((s: { nodes: number }) => s.nodes)).toEqual([1, 2])
    const { nodes } = await h.api(t, 'GET', `/releases/${rel.id}/nodes`)
    expect(nodes.map((n: { nodeId: string }) => n.nodeId).sort()).toEqual(['n0', 'n1', 'n2'])
    expect(nodes.find((n: { nodeId: string }) => n.nodeId === 'n2').joinedAt).toEqual(expect.any(Number))
    for (const n of early) expect((n.content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))

    // the late node is a normal target of the next release
    const next = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { campuses: ['bj-1'] },
    })
    await until(
      async () => (await h.api(t, 'GET', `/releases/${next.id}`)).release.status === 'completed',
      'next',
    )
    expect((late.content as MemoryContent).table.get('lesson')).toBe(lessonCid(2))
  })
})
