/**
 * A node obeys only its tracker: the tracker proves its key in the welcome and signs every
 * command, and the node pins the key it met first (or the one it was given). Someone who
 * answers at the tracker's address, or injects frames into a plain ws:// connection, gets
 * nothing executed.
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import { type Agent, createAgent } from '../../../node/agent/index.ts'
import type { Command } from '../../../node/agent/protocol.ts'
import { TrackerSigner } from '../../../node/agent/tracker-auth.ts'
import { Harness, lessonCid, until } from '../../tracker/harness.ts'
import { type FakeTracker, fakeTracker, handshake, send, signedCmd } from './fake-tracker.ts'
import { MemoryContent } from './memory-content.ts'

const h = new Harness()
const fakes: FakeTracker[] = []
afterEach(async () => {
  await h.teardown()
  for (const f of fakes.splice(0)) await f.close()
})

const place: Command = {
  seq: 1,
  id: 'c-1',
  op: 'place',
  resource: 'lesson',
  version: 9,
  manifestCid: 'bafy-evil',
}

/** Collects the agent's refusals of trackers. */
function refusals(agent: Agent): string[] {
  const codes: string[] = []
  agent.on('refused', ({ code }) => codes.push(code))
  return codes
}

async function fake(signer?: TrackerSigner): Promise<FakeTracker> {
  const f = await fakeTracker(signer)
  fakes.push(f)
  return f
}

describe('tracker authentication', () => {
  it('pins the first tracker met, refuses an impostor at its address, and takes the real one back', async () => {
    const dataDir = await h.tmp('tracker-')
    const real = await h.tracker({ dataDir })
    await h.seed(real)
    const port = Number(new URL(real.url).port)
    const a = await h.agent([real.channelUrl], 'n0', { campus: 'bj-1', dir: await h.tmp() })
    await until(() => a.agent.connected, 'connected to the real tracker')
    expect(a.agent.journal.trackerId).toBe(real.trackerId)
    const refused = refusals(a.agent)
    // the real tracker goes away and another one (its own key, its own state) answers there
    await real.close()
    h.trackers.splice(h.trackers.indexOf(real), 1)
    const impostor = await h.tracker({ port })
    await h.seed(impostor)
    await until(() => refused.includes('ERR_TRACKER_UNTRUSTED'), 'the impostor refused')
    expect(a.agent.connected).toBe(false)
    expect(impostor.state.inventory.nodes.size).toBe(0)
    await impostor.close()
    h.trackers.splice(h.trackers.indexOf(impostor), 1)
    // the real one, same data directory and so the same key, is obeyed again
    const back = await h.tracker({ dataDir, port })
    expect(back.trackerId).toBe(real.trackerId)
    await until(() => a.agent.connected, 'reconnected to the real tracker')
    const rel = await h.api(back, 'POST', '/releases', {
      resource: 'lesson',
      version: 1,
      targets: { nodes: ['n0'] },
    })
    await until(() => back.state.releases.get(rel.id).status === 'completed', 'release completed')
    expect((a.content as MemoryContent).table.get('lesson')).toBe(lessonCid(1))
  })

  it('refuses on first contact a tracker whose key is not the configured one', async () => {
    const t = await fake()
    const expected = new TrackerSigner(await generateKeyPair('Ed25519'))
    const content = new MemoryContent()
    const agent = createAgent(
      { content, privateKey: await generateKeyPair('Ed25519') },
      { trackers: [t.url], trackerIds: [expected.id], reconnectInitialMs: 50 },
    )
    const refused = refusals(agent)
    await agent.start()
    try {
      const ws = await t.next()
      send(ws, { t: 'challenge', nonce: 'n', trackerId: t.signer.id })
      await until(() => refused.includes('ERR_TRACKER_UNTRUSTED'), 'refused')
      expect(t.frames.some((f) => f.t === 'hello')).toBe(false)
    } finally {
      await agent.stop()
    }
  })

  it('refuses a welcome not signed by the key the challenge named', async () => {
    const t = await fake()
    const a = await h.agent([t.url], 'n0', {})
    const refused = refusals(a.agent)
    const other = new TrackerSigner(await generateKeyPair('Ed25519'))
    await handshake(await t.next(), t, 'n0', other)
    await until(() => refused.includes('ERR_TRACKER_BAD_SIGNATURE'), 'refused')
    expect(a.agent.connected).toBe(false)
    expect(a.agent.journal.trackerId).toBeUndefined()
  })

  it('executes no command the tracker did not sign for this node, and drops the connection', async () => {
    const t = await fake()
    const a = await h.agent([t.url], 'n0', {})
    const refused = refusals(a.agent)
    let ws = await t.next()
    await handshake(ws, t, 'n0')
    await until(() => a.agent.connected, 'welcomed')
    // forged by someone on the path, and one signed by the tracker for another node
    const otherNode = (await generateKeyPair('Ed25519')).publicKey.toString()
    send(ws, { t: 'cmd', cmd: place, sig: Buffer.alloc(64).toString('base64url') })
    await until(() => refused.includes('ERR_TRACKER_BAD_SIGNATURE'), 'forged command refused')
    ws = await t.next()
    await handshake(ws, t, 'n0')
    await until(() => a.agent.connected, 'welcomed again')
    send(ws, signedCmd(t.signer, otherNode, place))
    await until(() => refused.length === 2, 'command for another node refused')
    expect(t.frames.filter((f) => f.t === 'ack')).toEqual([])
    expect(await a.agent.journal.get(place.id)).toBeUndefined()
    expect((a.content as MemoryContent).calls).toEqual([])
    // the tracker's own command for this node is executed
    ws = await t.next()
    await handshake(ws, t, 'n0')
    await until(() => a.agent.connected, 'welcomed a third time')
    send(ws, signedCmd(t.signer, a.agent.peerId, place))
    await until(() => t.frames.some((f) => f.t === 'ack'), 'signed command ACKed')
  })
})
