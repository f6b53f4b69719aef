import { createServer, type Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../../../node/playback/metrics.ts'
import { Harness, randomContent, readAll, until } from '../utils/harness.ts'
import { startOrigin, type TestOrigin } from '../utils/origin.ts'

type Mode = 'down' | 'corrupt' | 'healthy'

/** Sits in front of a real origin: its chunk route answers 503 or corrupt bytes on demand. */
async function faultyFront(
  originUrl: string,
): Promise<{ url: string; mode: Mode; chunkRequests: number; server: Server }> {
  const front = { url: '', mode: 'healthy' as Mode, chunkRequests: 0, server: createServer() }
  front.server.on('request', (req, res) => {
    const chunk = req.url?.startsWith('/chunks/') === true
    if (chunk) front.chunkRequests++
    if (chunk && front.mode === 'down') {
      res.writeHead(503).end()
      return
    }
    fetch(originUrl + req.url)
      .then(async (r) => {
        const body = Buffer.from(await r.arrayBuffer())
        if (chunk && front.mode === 'corrupt' && body.length > 0) body[0] ^= 0xff
        res.writeHead(r.status, { 'content-length': body.length }).end(body)
      })
      .catch(() => res.writeHead(502).end())
  })
  await new Promise<void>((resolve) => front.server.listen(0, '127.0.0.1', resolve))
  front.url = `http://127.0.0.1:${(front.server.address() as { port: number }).port}`
  return front
}

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
      const front = await faultyFront(o.origin.url)
      server = front.server
      front.mode = fault
      const node = await h.spawn({
        originUrl: front.url,
        trustedOrigins: [o.origin.publicKey],
        fallbackIdleMs: 100,
        originBackoff: { initialMs: 200, maxMs: 800 },
      })
      const done = node.fetch(version.manifestCid)

      await until(() => (node.status().origin?.consecutiveFailures ?? 0) >= 3)
      const before = front.chunkRequests
      await new Promise((r) => setTimeout(r, 1500))
      // backed off: a few retries in 1.5 s (at most one per 100 ms at the 800 ms cap with
      // jitter, four at a time), not the thousands of an origin asked again at once
      expect(front.chunkRequests - before).toBeLessThanOrEqual(4 * 15)
      const status = node.status()
      expect(status.swarms[0].chunksDone).toBe(0)
      if (fault === 'corrupt') expect(status.totals.corruptChunks).toBeGreaterThan(0)
      const metrics = await createNodeMetrics(node).metrics()
      expect(metrics).toMatch(/dandelion_node_origin_consecutive_failures [1-9]/)

      front.mode = 'healthy'
      const manifest = await done
      expect(Buffer.from(await readAll(node, manifest)).equals(Buffer.from(bytes))).toBe(true)
      expect(node.status().origin).toMatchObject({ consecutiveFailures: 0, backoffMs: 0 })
      expect(node.status().totals.bytesFromOrigin).toBe(bytes.byteLength)
    })
  }
})
