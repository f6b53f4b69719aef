/**
 * Node events for dashboards (`GET /api/v1/events/nodes`, SSE): a node enrolling, its channel
 * opening and closing, an operator changing, releasing and deleting it, in order, with ids a
 * reconnecting dashboard resumes from; apart from the release events. Real tracker and agents.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { Harness, until } from './harness.ts'
import { http, subscribe } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('node events', () => {
  it('tell a dashboard when nodes enroll, come and go, and what operators did to them', {
    timeout: 30_000,
  }, async () => {
    const t = await h.tracker({ dataDir: await h.tmp() })
    await h.seed(t)
    const stream = await subscribe(t, { path: '/events/nodes' })
    const releases = await subscribe(t)
    const types = () => stream.events.map((e) => `${e.type} ${e.data.nodeId}`)

    const key = await generateKeyPair('Ed25519')
    const n0 = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1', key })
    await until(() => types().includes('node.connected n0'), 'n0 connected')
    expect(stream.events[0]).toMatchObject({
      type: 'node.enrolled',
      data: { nodeId: 'n0', campus: 'bj-1', peerId: expect.any(String), at: expect.any(Number) },
    })
    // its second connection (a restart of the daemon) is no enrollment
    await n0.agent.stop()
    await until(() => types().includes('node.disconnected n0'), 'n0 gone')
    const again = await h.agent([t.channelUrl], 'n0', { key })
    await until(() => again.agent.connected && types().filter((x) => x === 'node.connected n0').length === 2)

    await http(t, 'PATCH', '/nodes/n0', { campus: 'sh-1', labels: ['lab'] })
    // a campus moved to another city moves its nodes
    await http(t, 'POST', '/campuses', { id: 'sh-1', city: 'bj', name: 'SH one, now in BJ' })
    await http(t, 'DELETE', '/nodes/n0/peer')
    // releasing its binding closes its channel too
    await until(
      () =>
        types().includes('node.unbound n0') &&
        types().filter((x) => x === 'node.disconnected n0').length === 2,
      'n0 unbound and disconnected',
    )
    await http(t, 'DELETE', '/nodes/n0')
    await until(() => types().includes('node.deleted n0'), 'n0 deleted')
    const got = types()
    expect(got.slice(0, 6)).toEqual([
      'node.enrolled n0',
      'node.connected n0',
      'node.disconnected n0',
      'node.connected n0',
      'node.changed n0',
      'node.changed n0',
    ])
    // the channel's close and the release's commit race: either may be announced first
    expect(got.slice(6, 8).sort()).toEqual(['node.disconnected n0', 'node.unbound n0'])
    expect(got.slice(8)).toEqual(['node.deleted n0'])
    expect(stream.events[4]?.data).toMatchObject({ campus: 'sh-1', labels: ['lab'] })
    expect(stream.events[5]?.data).toMatchObject({ campus: 'sh-1', city: 'bj' })
    // the release stream has none of them
    expect(releases.events.filter((e) => e.type.startsWith('node.'))).toEqual([])

    // a dashboard that lost its connection resumes after the last event it saw
    const seen = stream.events[3]?.id as string
    stream.close()
    const resumed = await subscribe(t, { path: '/events/nodes', lastEventId: seen })
    await until(() => resumed.events.length >= 4, 'the missed events replayed')
    expect(resumed.events.map((e) => e.type).slice(0, 2)).toEqual(['node.changed', 'node.changed'])
    resumed.close()
    releases.close()
  })
})
