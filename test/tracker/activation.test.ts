import { afterEach, describe, expect, it } from 'vitest'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

/**
 * Time from the release request to the activation time. Everything before the agent
 * restart (three placements, checks, a stop and a start) must fit in it, also on a loaded
 * two-core machine; the test checks that it did rather than passing vacuously.
 */
const WINDOW_MS = 6_000

/** A {@link MemoryContent} that records when the name table was first switched. */
class TimedContent extends MemoryContent {
  activatedAt?: number
  constructor() {
    super()
    const set = this.names.set
    this.names.set = (name, cid) => {
      this.activatedAt ??= Date.now()
      set(name, cid)
    }
  }
}

describe('activation time', () => {
  it('places first, then switches every node at the activation time, also after an agent restart', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const dirs = [await h.tmp(), await h.tmp(), await h.tmp()]
    const nodes = await Promise.all(
      dirs.map((dir, i) =>
        h.agent([t.channelUrl], `n${i}`, { campus: 'bj-1', dir, content: new TimedContent() }),
      ),
    )
    await until(() => nodes.every((n) => n.agent.connected), 'connected')
    const activateAt = Date.now() + WINDOW_MS
    const rel = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { campuses: ['bj-1'] },
      activateAt,
    })
    await until(async () => {
      const { counts } = await h.api(t, 'GET', `/releases/${rel.id}`)
      if (counts.placed === 3) return true
      if (Date.now() >= activateAt)
        throw new Error(`activation time passed before placement: ${JSON.stringify(counts)}`)
      return false
    }, 'placed')
    // fetched and pinned, but classrooms still see the old content
    for (const n of nodes) {
      expect((n.content as MemoryContent).pinned.has(lessonCid(1))).toBe(true)
      expect((n.content as MemoryContent).table.get('lesson')).toBeUndefined()
    }
    // a node restarted before the activation time still switches at it (the journal keeps the schedule)
    await nodes[0].agent.stop()
    const content = new TimedContent()
    await h.agent([t.channelUrl], 'n0', { dir: dirs[0], key: nodes[0].key, content })
    expect(Date.now(), 'the restart must happen before the activation time').toBeLessThan(activateAt)
    await until(
      async () => (await h.api(t, 'GET', `/releases/${rel.id}`)).release.status === 'completed',
      'active',
    )
    // the stopped agent never touched its content; every running one switched at activateAt, not before
    expect((nodes[0].content as TimedContent).activatedAt).toBeUndefined()
    for (const c of [content, ...nodes.slice(1).map((n) => n.content as TimedContent)]) {
      expect(c.table.get('lesson')).toBe(lessonCid(1))
      expect(c.activatedAt).toBeGreaterThanOrEqual(activateAt)
    }
  })
})
