import { afterEach, describe, expect, it } from 'vitest'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('activation time', () => {
  it('places first, then switches every node at the activation time, also after an agent restart', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const dirs = [await h.tmp(), await h.tmp(), await h.tmp()]
    const nodes = await Promise.all(
      dirs.map((dir, i) => h.agent([t.channelUrl], `n${i}`, { campus: 'bj-1', dir })),
    )
    await until(() => nodes.every((n) => n.agent.connected), 'connected')
    const activateAt = Date.now() + 2_000
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
      activateAt,
    })
    await until(async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).counts.placed === 3, 'placed')
    // fetched and pinned, but classrooms still see the old content
    for (const n of nodes) {
      expect((n.content as MemoryContent).pinned.has(lessonCid(1))).toBe(true)
      expect((n.content as MemoryContent).table.get('lesson')).toBeUndefined()
    }
    // a node restarted before the activation time still switches at it (the journal keeps the schedule)
    await nodes[0].agent.stop()
    const content = new MemoryContent()
    await h.agent([t.channelUrl], 'n0', { dir: dirs[0], key: nodes[0].key, content })
    await until(
      async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
      'active',
    )
    expect(Date.now()).toBeGreaterThanOrEqual(activateAt)
    expect(content.table.get('lesson')).toBe(lessonCid(1))
    for (const n of nodes.slice(1))
      expect((n.content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
  })
})
