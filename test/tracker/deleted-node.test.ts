/**
 * A node deleted through the admin API takes its command outbox with it: what was queued
 * for it is neither kept on disk, nor retransmitted, nor delivered to whatever enrolls
 * under the same id later, and its releases say what became of those commands.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { CLOSE_CODES } from '../../node/agent/protocol.ts'
import { Harness, lessonCid, until } from './harness.ts'
import { bareNode, http, metric } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

const QUEUED = 'dandelion_tracker_commands_queued'
const UNACKED = 'dandelion_tracker_commands_unacked'

describe('deleting a node', () => {
  it('drops the commands queued for it, on disk too, and its release shows them failed', async () => {
    const dataDir = await h.tmp()
    const t = await h.tracker({ dataDir })
    await h.seed(t)
    // n1 receives its place but never ACKs it; the release is aborted while n1 is connected
    // (an abort withdraws only what waits for offline nodes: this one stays queued), then
    // n1 goes offline and may go
    const first = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'n1')
    await until(() => first.frames.some((f) => f.t === 'welcome'), 'n1 enrolled')
    const rel = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { nodes: ['n1'] },
    })
    expect(rel.status).toBe(201)
    await until(() => first.cmds().length > 0, 'n1 received its command')
    expect((await http(t, 'POST', `/releases/${rel.body.id}/abort`)).status).toBe(200)
    first.ws.close()
    await first.closed
    await until(() => !t.channel.isConnected('n1'), 'n1 offline')
    expect(await metric(t, QUEUED)).toBe(1)

    expect((await http(t, 'DELETE', '/nodes/n1')).status).toBe(204)
    expect(await metric(t, QUEUED)).toBe(0)
    expect(await metric(t, UNACKED)).toBe(0)
    // the command will never run: the release says so rather than waiting on it for good
    const status = await http(t, 'GET', `/releases/${rel.body.id}`)
    expect(status.body.counts).toMatchObject({ pending: 0, failed: 1 })
    const nodes = await http(t, 'GET', `/releases/${rel.body.id}/nodes`)
    expect(nodes.body.nodes).toMatchObject([{ nodeId: 'n1', state: 'failed', reason: 'node deleted' }])

    // nothing of it is left on disk
    await t.close()
    const t2 = await h.tracker({ dataDir })
    expect(await metric(t2, QUEUED)).toBe(0)
    expect((await http(t2, 'GET', `/releases/${rel.body.id}/nodes`)).body.nodes).toMatchObject([
      { nodeId: 'n1', state: 'failed', reason: 'node deleted' },
    ])
    // a new machine enrolled under the same id is sent nothing of the old node's
    const n = await bareNode(t2.channelUrl, await generateKeyPair('Ed25519'), 'n1')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')
    await n.settled()
    expect(n.cmds()).toEqual([])
    n.ws.close()
  })

  it('stops retransmitting to it, and the same key enrolled again gets none of its commands', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    // a node that receives its command but never ACKs it: the tracker retransmits it
    const n = await bareNode(t.channelUrl, key, 'n1')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'enrolled')
    const rel = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { nodes: ['n1'] },
    })
    await until(() => n.cmds().length >= 2, 'command retransmitted')
    expect(n.cmds()[0]).toMatchObject({ op: 'place', manifestCid: lessonCid(2) })
    expect((await http(t, 'POST', `/releases/${rel.body.id}/abort`)).status).toBe(200)

    expect((await http(t, 'DELETE', '/nodes/n1')).status).toBe(204)
    expect(await n.closed).toBe(CLOSE_CODES.unauthorized)
    expect(await metric(t, UNACKED)).toBe(0)
    expect([...t.state.outbox.nodesWithUnacked()]).toEqual([])

    // the machine enrolls again with the same key (its binding went with the node)
    const again = await bareNode(t.channelUrl, key, 'n1')
    await until(() => again.frames.some((f) => f.t === 'welcome'), 'welcome')
    await again.settled()
    expect(again.cmds()).toEqual([])
    again.ws.close()
  })

  it('leaves a deleted node out of a later rollback of a release it ran', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const { agent } = await h.agent([t.channelUrl], 'n1', { campus: 'bj-1' })
    await until(() => agent.connected, 'connected')
    const rel = await http(t, 'POST', '/releases', {
      resource: 'lesson',
      version: 2,
      targets: { nodes: ['n1'] },
    })
    await until(
      async () => (await http(t, 'GET', `/releases/${rel.body.id}`)).body.release.status === 'completed',
      'release completed',
    )
    await agent.stop()
    expect((await http(t, 'DELETE', '/nodes/n1')).status).toBe(204)

    const back = await http(t, 'POST', `/releases/${rel.body.id}/rollback`)
    expect(back.status).toBe(200)
    // no revert is queued for a node that no longer exists
    expect(await metric(t, QUEUED)).toBe(0)
    const nodes = await http(t, 'GET', `/releases/${rel.body.id}/nodes`)
    expect(nodes.body.nodes).toMatchObject([
      { nodeId: 'n1', state: 'active', reason: 'not rolled back: node deleted' },
    ])
  })
})
