import { afterEach, describe, expect, it } from 'vitest'
import type { DandelionNode } from '../../../node/index.ts'
import { Harness, randomContent, readAll } from '../utils/harness.ts'
import { startOrigin, type TestOrigin } from '../utils/origin.ts'

describe('replication across a campus', () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
  })

  it('replicates from the origin to 5 nodes and 2 devices, mostly peer to peer', async () => {
    o = await startOrigin(h, { dht: true })
    const bytes = randomContent(6 * 1024 * 1024 + 777)
    const version = await o.publish(bytes)
    const bootstrap = o.seeder.node.multiaddrs.map((a) => a.toString())
    const common = {
      originUrl: o.origin.url,
      trustedOrigins: [o.origin.publicKey],
      bootstrap,
      dht: true,
      campus: 'north',
      city: 'lyon',
    }
    const nodes: DandelionNode[] = []
    for (let i = 0; i < 5; i++) nodes.push(await h.spawn({ ...common, role: 'campus' }))
    for (let i = 0; i < 2; i++) nodes.push(await h.spawn({ ...common, role: 'device' }))
    // cap the origin's upload so that peers, not the origin, carry most of the copies
    o.seeder.node.setLimits({ uploadBytesPerSecond: 8 * 1024 * 1024 })
    await Promise.all(nodes.map(async (n) => await h.connect(n, o!.seeder.node)))

    const manifests = await Promise.all(nodes.map(async (n) => await n.fetch(version.manifestCid)))

    for (const [i, n] of nodes.entries()) {
      expect(Buffer.from(await readAll(n, manifests[i])).equals(Buffer.from(bytes))).toBe(true)
    }
    const received = nodes.reduce(
      (s, n) => s + n.status().totals.bytesFromPeers + n.status().totals.bytesFromOrigin,
      0,
    )
    const originEgress =
      o.seeder.node.status().totals.bytesUploaded +
      nodes.reduce((s, n) => s + n.status().totals.bytesFromOrigin, 0)
    expect(received).toBe(7 * bytes.byteLength)
    // nodes only knew the seeder: they found each other through the DHT (manifest CID providers)
    expect(Math.max(...nodes.map((n) => n.status().swarms[0].peers.length))).toBeGreaterThan(1)
    // most bytes came from peers: the origin served well under half of what the nodes received
    expect(originEgress).toBeLessThan(received / 2)
  })
})
