/**
 * The agent takes the tracker's signed statements of its campus membership (in the welcome,
 * then in `membership` frames) and hands on those that check out; a statement that does not
 * is ignored without dropping the connection. A frame of a type the agent does not know, once
 * welcomed, is ignored too (a newer tracker's): before, any such frame dropped the connection.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { type Agent, type AgentInit, createAgent } from '../../../node/agent/index.ts'
import type { Command } from '../../../node/agent/protocol.ts'
import { TrackerSigner } from '../../../node/agent/tracker-auth.ts'
import { MEMBERSHIP_TTL_MS, type SignedMembership } from '../../../node/membership.ts'
import { type FakeTracker, fakeTracker, handshake, send, signedCmd } from './fake-tracker.ts'
import { until, within } from './helpers.ts'
import { MemoryContent } from './memory-content.ts'

const agents: Agent[] = []
const trackers: FakeTracker[] = []
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop()
  for (const t of trackers.splice(0)) await t.close()
})

async function setup(init: Partial<AgentInit> = {}): Promise<{
  tracker: FakeTracker
  agent: Agent
  content: MemoryContent
  got: SignedMembership[]
}> {
  const tracker = await fakeTracker()
  trackers.push(tracker)
  const content = new MemoryContent()
  const agent = createAgent(
    { content, privateKey: await generateKeyPair('Ed25519') },
    { trackers: [tracker.url], reconnectInitialMs: 20, reconnectMaxMs: 200, ...init },
  )
  agents.push(agent)
  const got: SignedMembership[] = []
  agent.on('membership', (m) => got.push(m))
  await agent.start()
  return { tracker, agent, content, got }
}

const place: Command = {
  seq: 1,
  id: 'cmd-place',
  op: 'place',
  resource: 'lesson',
  version: 1,
  manifestCid: 'bafy-v1',
}

describe('campus membership statements', () => {
  it('names the feature in its hello and takes the statements its tracker signed for it', async () => {
    const { tracker, agent, got } = await setup()
    const ws = await tracker.next()
    const statement = tracker.signer.membership.sign({
      peerId: agent.peerId,
      nodeId: 'n1',
      campus: 'bj-1',
      city: 'bj',
    })
    const hello = await handshake(ws, tracker, 'n1', tracker.signer, { membership: statement })
    // the tracker sends statements only to nodes that ask (an older agent drops the connection)
    expect(hello.features).toContain('membership')
    await until(() => got.length === 1, 'the statement of the welcome')
    expect(got[0]).toEqual(statement)

    // moved: the tracker sends a new one in a frame of its own
    const moved = tracker.signer.membership.sign({
      peerId: agent.peerId,
      nodeId: 'n1',
      campus: 'sh-1',
      city: 'sh',
    })
    send(ws, { t: 'membership', membership: moved })
    await until(() => got.length === 2, 'the statement of the membership frame')
    expect(got[1].m).toMatchObject({ campus: 'sh-1', city: 'sh', tracker: tracker.signer.id })
    expect(agent.membership).toEqual(moved)
    expect(tracker.connections).toHaveLength(1)
  })

  it('ignores a statement another key signed, about another peer, expired or malformed, and keeps the connection', async () => {
    const { tracker, agent, content, got } = await setup()
    const ws = await tracker.next()
    const impostor = new TrackerSigner(await generateKeyPair('Ed25519'))
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const node = { peerId: agent.peerId, nodeId: 'n1', campus: 'bj-1', city: 'bj' }
    // the welcome's statement is signed by a key other than the one that signed the welcome
    await handshake(ws, tracker, 'n1', tracker.signer, { membership: impostor.membership.sign(node) })
    await until(() => agent.connected, 'welcomed')
    send(ws, { t: 'membership', membership: tracker.signer.membership.sign({ ...node, peerId: other }) })
    send(ws, {
      t: 'membership',
      membership: tracker.signer.membership.sign(node, Date.now() - MEMBERSHIP_TTL_MS - 1),
    })
    send(ws, { t: 'membership', membership: { m: { campus: 'bj-1' }, sig: 'x' } } as never)
    // frames are handled in order: once the good one is taken, the others were turned down
    const good = tracker.signer.membership.sign({ ...node, campus: 'bj-2' })
    send(ws, { t: 'membership', membership: good })
    await until(() => got.length > 0, 'the good statement')
    expect(got).toEqual([good])
    // the commands of the connection go on
    send(ws, signedCmd(tracker.signer, agent.peerId, place))
    await until(() => tracker.frames.some((f) => f.t === 'outcome' && f.status === 'active'), 'command run')
    expect(content.table.get('lesson')).toBe('bafy-v1')
    expect(tracker.connections).toHaveLength(1)
  })

  it('a listener that throws does not drop the connection', async () => {
    const { tracker, agent } = await setup()
    agent.on('membership', () => {
      throw new Error('listener bug')
    })
    const ws = await tracker.next()
    await handshake(ws, tracker, 'n1', tracker.signer, {
      membership: tracker.signer.membership.sign({ peerId: agent.peerId, nodeId: 'n1', campus: 'bj-1' }),
    })
    await until(() => agent.membership !== undefined, 'statement taken')
    send(ws, signedCmd(tracker.signer, agent.peerId, place))
    await until(() => tracker.frames.some((f) => f.t === 'outcome' && f.status === 'active'), 'command run')
    expect(tracker.connections).toHaveLength(1)
  })
})

describe('frames of a type the agent does not know', () => {
  it('are ignored once welcomed: the connection and the commands after them go on', async () => {
    const { tracker, agent, content } = await setup()
    const ws = await tracker.next()
    await handshake(ws, tracker)
    // a newer tracker's frame
    send(ws, { t: 'route-hint', peers: ['x'] } as never)
    send(ws, signedCmd(tracker.signer, agent.peerId, place))
    await until(() => tracker.frames.some((f) => f.t === 'outcome' && f.status === 'active'), 'command run')
    expect(content.table.get('lesson')).toBe('bafy-v1')
    expect(tracker.connections).toHaveLength(1)
    expect(agent.connected).toBe(true)
  })

  it('still drop the connection before the welcome, and so does a malformed frame of a known type', async () => {
    const { tracker } = await setup()
    // before the welcome: only the handshake is taken
    const first = await tracker.next()
    send(first, { t: 'route-hint' } as never)
    const second = await within(tracker.next(), 5_000, 'reconnect after an unknown frame before welcome')
    await handshake(second, tracker)
    // a command without its signature is malformed, not unknown
    send(second, { t: 'cmd', cmd: place } as never)
    const third = await within(tracker.next(), 5_000, 'reconnect after a malformed cmd')
    await handshake(third, tracker)
    // no type at all
    send(third, { hello: 'there' } as never)
    const fourth = await within(tracker.next(), 5_000, 'reconnect after a frame without a type')
    // a membership frame without a statement
    await handshake(fourth, tracker)
    send(fourth, { t: 'membership' } as never)
    await within(tracker.next(), 5_000, 'reconnect after a membership frame without a statement')
  })
})
