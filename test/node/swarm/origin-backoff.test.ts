import type { Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../../../node/playback/metrics.ts'
import { Harness, randomContent, readAll, until } from '../utils/harness.ts'
import { originFront, startOrigin, type TestOrigin } from '../utils/origin.ts'

describe('a failing origin', () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  let server: Server | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
    server?.close()
  })

  for (const fault of ['down', 'corrupt'] as const) {
    it(`is backed off while its chunks are ${fault === 'down' ? 'refused' : 'corrupt'}, and used again once it recovers`, async () => {
      o = await startOrigin(h)
      const bytes = randomContent(2 * 1024 * 1024)
      const version = await o.publish(bytes)
      await o.seeder.stop() // no peers: the origin over HTTP is the only source
      const front = await originFront(o.origin.url)
      server = front.server
      front.modes.chunks = fault
      const node = await h.spawn({
        originUrl: front.url,
        trustedOrigins: [o.origin.publicKey],
        fallbackIdleMs: 100,
        originBackoff: { initialMs: 200, maxMs: 800 },
      })
      const done = node.fetch(version.manifestCid)

      await until(() => (node.status().origin?.consecutiveFailures ?? 0) >= 3)
      const before = front.asks.chunks
      await new Promise((r) => setTimeout(r, 1500))
      // backed off: a few retries in 1.5 s (at most one per 100 ms at the 800 ms cap with
      // jitter, four at a time), not the thousands of an origin asked again at once
      expect(front.asks.chunks - before).toBeLessThanOrEqual(4 * 15)
      const status = node.status()
      expect(status.swarms[0].chunksDone).toBe(0)
      if (fault === 'corrupt') expect(status.totals.corruptChunks).toBeGreaterThan(0)
      const metrics = await createNodeMetrics(node).metrics()
      expect(metrics).toMatch(/dandelion_node_origin_consecutive_failures [1-9]/)

      front.modes.chunks = 'healthy'
      const manifest = await done
      expect(Buffer.from(await readAll(node, manifest)).equals(Buffer.from(bytes))).toBe(true)
      expect(node.status().origin).toMatchObject({ consecutiveFailures: 0, backoffMs: 0 })
      expect(node.status().totals.bytesFromOrigin).toBe(bytes.byteLength)
    })
  }
})
