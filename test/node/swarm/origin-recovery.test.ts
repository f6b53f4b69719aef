/**
 * `origin.consecutiveFailures` in `/status` (and its gauge in `/metrics`) is what an
 * operator reads as "the origin is unreachable now". A node whose origin failed while it
 * fetched, and which then got every byte from a peer, asks the origin nothing more: the
 * count used to stay at its last value after the origin had recovered. Now reading the
 * status, once the backoff has run out, asks the origin once more, and the count follows.
 */
import type { Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../../../node/playback/metrics.ts'
import { Harness, until } from '../utils/harness.ts'
import { servedByPeerWhileOriginFails, startOrigin, type TestOrigin } from '../utils/origin.ts'

describe("an origin's failures in a row", () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  let server: Server | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
    server?.close()
  })

  it('go back to 0 once the origin answers again, though the content came from a peer meanwhile', async () => {
    o = await startOrigin(h)
    // the peer delivers everything while the origin still refuses
    const { node, front } = await servedByPeerWhileOriginFails(h, o, {
      bytes: 1024 * 1024,
      mode: 'down',
      failures: 2,
      backoff: { initialMs: 100, maxMs: 400 },
    })
    server = front.server
    expect(node.status().totals.bytesFromOrigin).toBe(0)
    expect(node.status().origin?.consecutiveFailures).toBeGreaterThan(0)

    front.modes.chunks = 'healthy'
    const asked = front.asks.chunks
    await until(() => node.status().origin?.consecutiveFailures === 0, 15_000)
    expect(node.status().origin).toMatchObject({ consecutiveFailures: 0, backoffMs: 0 })
    expect(await createNodeMetrics(node).metrics()).toMatch(/dandelion_node_origin_consecutive_failures 0/)
    // one probe found the origin well (two if one was already on its way when it recovered);
    // reading the status again asks it nothing more
    expect(front.asks.chunks - asked).toBeLessThanOrEqual(2)
    const settled = front.asks.chunks
    for (let i = 0; i < 20; i++) node.status()
    await createNodeMetrics(node).metrics()
    expect(front.asks.chunks).toBe(settled)
  })

  it('stay up while the origin still sends bytes that do not verify', async () => {
    o = await startOrigin(h)
    const { node, front } = await servedByPeerWhileOriginFails(h, o, {
      bytes: 512 * 1024,
      mode: 'corrupt',
      failures: 1,
      backoff: { initialMs: 100, maxMs: 400 },
    })
    server = front.server
    const failures = node.status().origin?.consecutiveFailures ?? 0
    expect(failures).toBeGreaterThan(0)
    // bytes that do not verify are a failure, probe or not: the count only grows
    const asked = front.asks.chunks
    // reading the status (as a scraper does) probes once each time the backoff runs out
    await until(() => node.status().origin !== undefined && front.asks.chunks >= asked + 2, 15_000)
    expect(node.status().origin?.consecutiveFailures).toBeGreaterThan(failures)
  })
})
