/**
 * What a peer on the channel sends is checked before the tracker uses it: a broken frame
 * on a connection the tracker is refusing must not take the tracker down, and an
 * enrolled node's outcome is shape-checked like every other frame before it reaches the
 * release's state.
 */
import { once } from 'node:events'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { CHANNEL_PROTOCOL, CLOSE_CODES } from '../../node/agent/protocol.ts'
import { Harness, until } from './harness.ts'
import { bareNode, createRelease, releaseStatus } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

/** The errors thrown and not caught while `fn` runs (the process would end on the first). */
async function uncaughtDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = []
  const record = (err: unknown): void => {
    errors.push(err)
  }
  process.on('uncaughtException', record)
  try {
    await fn()
  } finally {
    process.off('uncaughtException', record)
  }
  return errors
}

describe('malformed input on the channel', () => {
  it('a refused connection that sends an oversize frame does not crash the tracker', async () => {
    const t = await h.tracker({ maxPendingHandshakes: 1 })
    await h.seed(t)
    // one handshake in progress: the next connection is refused as busy
    const idle = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
    await once(idle, 'message')
    const errors = await uncaughtDuring(async () => {
      const ws = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
      ws.on('error', () => {})
      // 'open' comes before the tracker's close frame is read: this frame is sent on a
      // connection the tracker is closing (busy), and is more than a frame may carry (64 KiB)
      ws.once('open', () => ws.send('x'.repeat(70 * 1024)))
      const [code] = await once(ws, 'close')
      expect(code).toBe(CLOSE_CODES.busy)
      // an uncaught error surfaces on a later turn of the event loop: let it
      await new Promise((r) => setImmediate(r))
    })
    // before the fix: "RangeError: Max payload size exceeded", thrown as an 'error' event of
    // a WebSocket without a listener, which ends the tracker process
    expect(errors).toEqual([])
    idle.close()
    // and the tracker still takes nodes (an agent retries while the idle one is closing)
    const { agent } = await h.agent([t.channelUrl], 'n0', { campus: 'bj-1' })
    await until(() => agent.connected, 'a node connected after the broken frame')
  })

  it("refuses an outcome whose byte counts are not numbers, or whose reason has no bound, and keeps the release's counts", async () => {
    const t = await h.tracker()
    await h.seed(t)
    const n = await bareNode(t.channelUrl, await generateKeyPair('Ed25519'), 'n0')
    await until(() => n.frames.some((f) => f.t === 'welcome'), 'welcome')
    const id = await createRelease(t, { targets: { nodes: ['n0'] } })
    await until(() => n.cmds().length > 0, 'command')
    const [cmd] = n.cmds()
    n.ws.send(JSON.stringify({ t: 'ack', seq: cmd.seq, id: cmd.id }))
    await until(() => t.state.releases.nodesOf(id).get('n0')?.state === 'fetching', 'ACKed')
    // a node (buggy, or not ours) reporting its bytes as text and a reason of ~60 KB
    n.ws.send(
      JSON.stringify({
        t: 'outcome',
        id: cmd.id,
        status: 'active',
        peerBytes: '1000',
        originBytes: -5,
        reason: 'x'.repeat(60_000),
      }),
    )
    let code: number | undefined
    n.closed.then((c) => {
      code = c
    })
    // before the fix the outcome was taken (the release completes) and the channel kept
    await until(
      () => code !== undefined || t.state.releases.nodesOf(id).get('n0')?.state !== 'fetching',
      'the outcome refused or taken',
    )
    // shape-checked like every other frame: refused, and the connection with it
    expect(code).toBe(CLOSE_CODES.protocol)
    const status = await releaseStatus(t, id)
    // before the fix the outcome was taken: bytes.peers was the string "01000", origin -5,
    // and the 60 KB reason was kept in the release's state (and on disk) for good
    expect(status.bytes).toEqual({ peers: 0, origin: 0 })
    expect(status.counts.active).toBe(0)
    expect(t.state.releases.nodesOf(id).get('n0')?.reason).toBeUndefined()
  })
})
