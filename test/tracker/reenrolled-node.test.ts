/**
 * A node deleted and enrolled again under the same id on a new machine (a new libp2p key)
 * is handed the commands still in its outbox: they must be signed for its new key, or the
 * node refuses every one of them and reconnects for ever.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryContent } from '../node/agent/memory-content.ts'
import { Harness, lessonCid, until } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('a node enrolled again with a new key', () => {
  it('gets the commands replayed to it signed for its new key, and runs them', async () => {
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
    expect([...t.state.outbox.entriesOf('n1')]).toHaveLength(1)

    // a new machine, a new key, the same node id
    const content = new MemoryContent()
    const second = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1', content })
    const refused: string[] = []
    second.agent.on('refused', ({ code }) => refused.push(code))
    await until(
      () => content.table.get('lesson') === lessonCid(2) || refused.length > 0,
      'the replayed command run or refused',
    )
    expect(refused).toEqual([])
    expect(content.table.get('lesson')).toBe(lessonCid(2))
    expect(second.agent.connected).toBe(true)
  })
})
