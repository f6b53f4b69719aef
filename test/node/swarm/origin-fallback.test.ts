import { afterEach, describe, expect, it } from 'vitest'
import { Harness, randomContent, readAll, until } from '../utils/harness.ts'
import { startOrigin, type TestOrigin } from '../utils/origin.ts'

describe('origin and peers coming and going', () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
  })

  it('completes from peers once the origin is stopped after the first node completes', async () => {
    o = await startOrigin(h)
    const bytes = randomContent(3 * 1024 * 1024)
    const version = await o.publish(bytes)
    const common = { originUrl: o.origin.url, trustedOrigins: [o.origin.publicKey] }
    const first = await h.spawn({ ...common, bootstrap: [o.seeder.node.multiaddrs[0].toString()] })
    await h.connect(first, o.seeder.node)
    const manifest = await first.fetch(version.manifestCid)
    await o.close()

    const rest = [await h.spawn(common), await h.spawn(common)]
    for (const n of rest) await h.connect(n, first)
    await Promise.all(rest.map(async (n) => await n.fetch(version.manifestCid)))
    for (const n of rest) {
      expect(Buffer.from(await readAll(n, manifest)).equals(Buffer.from(bytes))).toBe(true)
      expect(n.status().totals.bytesFromOrigin).toBe(0)
    }
  })

  it('completes from the origin over HTTP when every peer is gone', async () => {
    o = await startOrigin(h)
    const bytes = randomContent(3 * 1024 * 1024)
    const version = await o.publish(bytes)
    const common = { originUrl: o.origin.url, trustedOrigins: [o.origin.publicKey] }
    const peer = await h.spawn(common)
    await h.connect(peer, o.seeder.node)
    const manifest = await peer.fetch(version.manifestCid)
    // only the HTTP side of the origin stays up
    await o.seeder.stop()

    const node = await h.spawn({ ...common, fallbackIdleMs: 500 })
    peer.setLimits({ uploadBytesPerSecond: 512 * 1024 })
    await h.connect(node, peer)
    const done = node.fetch(version.manifestCid)
    await until(() => node.status().totals.bytesFromPeers > 0)
    await peer.stop()
    await done

    expect(Buffer.from(await readAll(node, manifest)).equals(Buffer.from(bytes))).toBe(true)
    const totals = node.status().totals
    expect(totals.bytesFromPeers).toBeGreaterThan(0)
    expect(totals.bytesFromOrigin).toBeGreaterThan(0)
    expect(totals.bytesFromPeers + totals.bytesFromOrigin).toBe(bytes.byteLength)
  })
})
