/**
 * A node's first connection without the enrollment token: the tracker's refusal keeps its
 * code (`ERR_NOT_ENROLLED`, which the agent and the daemon's hints match) and says what to
 * do, instead of just "unknown peer".
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { authPayload, CHANNEL_PROTOCOL, type ServerFrame } from '../../node/agent/protocol.ts'
import { Harness } from './harness.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('command channel: a node that is not enrolled', () => {
  it('is refused with ERR_NOT_ENROLLED and told to give the enrollment token', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const ws = new WebSocket(t.channelUrl, CHANNEL_PROTOCOL)
    const frames: ServerFrame[] = []
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)))
    ws.on('message', async (data) => {
      const f = JSON.parse(data.toString()) as ServerFrame
      frames.push(f)
      if (f.t === 'challenge') {
        const sig = Buffer.from(await key.sign(authPayload(f.nonce, peerId))).toString('base64url')
        // a well-signed hello, but no `enroll`: the node was started without --enroll-token
        ws.send(JSON.stringify({ t: 'hello', peerId, sig, lastSeq: 0 }))
      }
    })
    expect(await closed).toBe(4001)
    const refusal = frames.at(-1) as Extract<ServerFrame, { t: 'error' }>
    expect(refusal).toMatchObject({ t: 'error', code: 'ERR_NOT_ENROLLED' })
    expect(refusal.message).toContain('not enrolled')
    expect(refusal.message).toContain('enrollment token')
    expect(refusal.message).toContain('--enroll-token')
    expect(t.state.inventory.nodeByPeer(peerId)).toBeUndefined()
  })
})
