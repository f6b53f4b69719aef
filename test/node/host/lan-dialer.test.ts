/**
 * The dialer of peers found by mDNS, on a real libp2p host: who it dials and what it
 * leaves alone. (Discovery itself, over real multicast, is `mdns.test.ts`.)
 */
import { generateKeyPair } from '@libp2p/crypto/keys'
import { logger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { LanDialer } from '../../../node/host/lan-dialer.ts'
import { MAX_PENDING_LAN_DIALS } from '../../../node/node-constants.ts'
import { Harness, until } from '../utils/harness.ts'

const log = logger('dandelion:test:lan')

describe('LanDialer', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('dials a peer it is told of (answers heard before attach included) and not one it is connected to', async () => {
    const a = await h.spawn()
    const b = await h.spawn()
    const dialer = new LanDialer({ logger: log })
    // heard while the host was still starting: kept until attach
    dialer.found({ id: b.peerId, multiaddrs: b.multiaddrs.map((m) => m.decapsulateCode(421)) })
    expect(a.libp2p.getConnections(b.peerId)).toHaveLength(0)
    dialer.attach(a.libp2p)
    await until(() => a.libp2p.getConnections(b.peerId).length > 0)
    // connected, and itself: neither is dialed (libp2p would reuse the connection, so count calls)
    let calls = 0
    const dial = a.libp2p.dial.bind(a.libp2p)
    a.libp2p.dial = (async (...args: Parameters<typeof dial>) => {
      calls++
      return await dial(...args)
    }) as typeof dial
    dialer.found({ id: b.peerId, multiaddrs: b.multiaddrs })
    dialer.found({ id: a.peerId, multiaddrs: a.multiaddrs })
    expect(calls).toBe(0)
  })

  /**
   * A dialer on a real host whose dials are recorded and answered by `answer` instead of
   * reaching out (the addresses in these tests are TEST-NET ones: nothing is sent anywhere).
   */
  async function standIn(answer: (signal?: AbortSignal) => Promise<never>) {
    const a = await h.spawn()
    const dialer = new LanDialer({ logger: log })
    dialer.attach(a.libp2p)
    const dialed: string[] = []
    a.libp2p.dial = (async (...args: Parameters<typeof a.libp2p.dial>) => {
      dialed.push(String(args[0]))
      return await answer(args[1]?.signal)
    }) as typeof a.libp2p.dial
    return { dialer, dialed }
  }

  it(`has at most ${MAX_PENDING_LAN_DIALS} dials under way, and none after detach`, async () => {
    // peers that never answer: a stand-in dial that settles only at its deadline
    const { dialer, dialed } = await standIn(
      async (signal) =>
        await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason))),
    )
    for (let i = 0; i < MAX_PENDING_LAN_DIALS + 3; i++) {
      const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      dialer.found({ id, multiaddrs: [multiaddr(`/ip4/192.0.2.${i + 1}/tcp/4001`)] })
    }
    expect(dialed).toHaveLength(MAX_PENDING_LAN_DIALS)
    // each dial names the peer, so the handshake checks who answers
    for (const d of dialed) expect(d).toMatch(/\/p2p\//)
    dialer.detach()
    dialer.found({
      id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
      multiaddrs: [multiaddr('/ip4/192.0.2.99/tcp/1')],
    })
    expect(dialed).toHaveLength(MAX_PENDING_LAN_DIALS)
  })

  it("skips a remote peer's loopback address (it would reach this machine), unless it is all there is", async () => {
    const { dialer, dialed } = await standIn(async () => {
      throw new Error('not dialing in this test')
    })
    const remote = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    dialer.found({
      id: remote,
      multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/4001'), multiaddr('/ip4/192.0.2.50/tcp/4001')],
    })
    expect(dialed).toEqual([`/ip4/192.0.2.50/tcp/4001/p2p/${remote}`])
    const local = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    dialer.found({ id: local, multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/4002')] })
    expect(dialed.at(-1)).toBe(`/ip4/127.0.0.1/tcp/4002/p2p/${local}`)
    dialer.detach()
  })
})
