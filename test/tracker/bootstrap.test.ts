import { afterEach, describe, expect, it } from 'vitest'
import { createNode, type DandelionNode } from '../../node/index.ts'
import { Harness, until } from './harness.ts'

const h = new Harness()
const nodes: DandelionNode[] = []
afterEach(async () => {
  await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
  await h.teardown()
})

describe('tracker as DHT bootstrap peer', () => {
  it('serves the DHT to nodes that list it as bootstrap, with a PeerId stable across restarts', async () => {
    const dataDir = await h.tmp('tracker-boot-')
    const t = await h.tracker({ dataDir, bootstrap: {} })
    expect(t.bootstrapAddrs[0]).toMatch(/\/p2p\//)
    const peerId = t.libp2p!.peerId.toString()
    for (let i = 0; i < 2; i++) {
      const n = await createNode({ dht: true, bootstrap: t.bootstrapAddrs })
      await n.start()
      nodes.push(n)
    }
    await until(() => t.libp2p!.getConnections().length >= 2, 'nodes connected to the tracker')
    // the nodes only know the tracker, yet find each other through its DHT
    const found = await nodes[0].libp2p.peerRouting.findPeer(nodes[1].peerId, {
      signal: AbortSignal.timeout(20_000),
    })
    expect(found.id.equals(nodes[1].peerId)).toBe(true)
    await t.close()
    h.trackers.length = 0
    const again = await h.tracker({ dataDir, bootstrap: {} })
    expect(again.libp2p!.peerId.toString()).toBe(peerId)
  })
})
