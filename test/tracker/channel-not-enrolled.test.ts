/**
 * A node's first connection without the enrollment token: the tracker's refusal keeps its
 * code (`ERR_NOT_ENROLLED`, which the agent and the daemon's hints match) and says what to
 * do, instead of just "unknown peer".
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import type { ServerFrame } from '../../node/agent/protocol.ts'
import { Harness } from './harness.ts'
import { bareNode } from './wire.ts'

const h = new Harness()
afterEach(() => h.teardown())

describe('command channel: a node that is not enrolled', () => {
  it('is refused with ERR_NOT_ENROLLED and told to give the enrollment token', async () => {
    const t = await h.tracker()
    await h.seed(t)
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    // a well-signed hello, but no `enroll`: the node was started without --enroll-token
    const { frames, closed } = await bareNode(t.channelUrl, key, 'n0', 'bj-1', { enroll: false })
    expect(await closed).toBe(4001)
    const refusal = frames.at(-1) as Extract<ServerFrame, { t: 'error' }>
    expect(refusal).toMatchObject({ t: 'error', code: 'ERR_NOT_ENROLLED' })
    expect(refusal.message).toContain('not enrolled')
    expect(refusal.message).toContain('enrollment token')
    expect(refusal.message).toContain('--enroll-token')
    expect(t.state.inventory.nodeByPeer(peerId)).toBeUndefined()
  })
})
