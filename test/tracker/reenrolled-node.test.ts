/**
 * A node deleted and enrolled again under the same id on a new machine (a new libp2p key)
 * runs what was queued for it since, signed for its new key (or it would refuse every
 * command and reconnect for ever), and nothing that was queued for the machine before it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('a node enrolled again with a new key', () => {
  it('runs the commands queued for it since, signed for its new key, and none of the old machine', async () => {
    const t = await h.tracker()
    await h.seed(t)
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1' })
    // the first machine receives the place (the tracker signs it for that key) and is
    // still fetching when the release is aborted and the machine retired
    const old = new MemoryContent()
    old.gate = new Promise(() => {})
    const first = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content: old })
    await until(() => first.agent.connected, 'first machine connected')
    const r = await h.api(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { nodes: ['n1'] },
    })
    await until(() => old.calls.includes(`fetch ${lessonCid(2)}`), 'first machine fetching')
    await h.api(t, 'POST', `/releases/${r.id}/abort`)
    await first.agent.stop()
    await h.api(t, 'DELETE', '/nodes/n1')
    await h.api(t, 'POST', '/nodes', { id: 'n1', campus: 'bj-1' })
    // the old machine's place went with the node; a new release is queued for the new one
    expect([...t.state.outbox.entriesOf('n1')]).toHaveLength(0)
    await h.api(t, 'POST', '/releases', { resource: 'lesson', version: 1, targets: { nodes: ['n1'] } })

    // a new machine, a new key, the same node id
    const content = new MemoryContent()
    const second = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content })
    const refused: string[] = []
    second.agent.on('refused', ({ code }) => refused.push(code))
    await until(
      () => content.table.get('lesson') === lessonCid(1) || refused.length > 0,
      'the queued command run or refused',
    )
    expect(refused).toEqual([])
    expect(content.table.get('lesson')).toBe(lessonCid(1))
    expect(content.calls).not.toContain(`fetch ${lessonCid(2)}`)
    expect(second.agent.connected).toBe(true)
  })
})
