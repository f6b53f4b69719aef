/**
 * The probe a status read sends to an origin whose failure count nothing else would update
 * (`web-seed.ts`): it must not outlive the node, and a late answer to it must not undo what
 * a newer request found out.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { chunkCid } from '../../../node/content/cid.ts'
import { WebSeed } from '../../../node/swarm/web-seed.ts'
import { Harness, randomContent, until } from '../utils/harness.ts'
import {
  type OriginFront,
  originFront,
  servedByPeerWhileOriginFails,
  startOrigin,
  type TestOrigin,
} from '../utils/origin.ts'

/** Resolves with 'closed' when `p` does, or 'open' after `ms`. */
async function closedWithin(p: Promise<void>, ms: number): Promise<'closed' | 'open'> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([
      p.then(() => 'closed' as const),
      new Promise<'open'>((resolve) => {
        timer = setTimeout(() => resolve('open'), ms)
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

describe('the origin probe of a status read', () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  let front: OriginFront | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
    front?.close()
    front = undefined
  })

  it('ends with the node: a stopped node leaves no request to its origin, and a status read after stop sends none', async () => {
    o = await startOrigin(h)
    const served = await servedByPeerWhileOriginFails(h, o, {
      bytes: 512 * 1024,
      mode: 'down',
      failures: 1,
      backoff: { initialMs: 100, maxMs: 200 },
    })
    front = served.front
    const node = served.node

    // the origin now takes requests and never answers them; a status read probes it
    front.modes.chunks = 'hang'
    const f = front
    await until(() => {
      node.status()
      return f.held.length > 0
    }, 10_000)
    const probe = f.held[0]
    await node.stop()
    // the probe's request went with the node (it used to stay open for the request's 30 s
    // deadline, holding the daemon's exit up after SIGTERM)
    expect(await closedWithin(probe.closed, 3_000)).toBe('closed')
    const asked = f.asks.chunks
    node.status()
    await new Promise((r) => setTimeout(r, 300)) // a probe would reach the front by now
    expect(f.asks.chunks).toBe(asked)
  })

  it('a probe answered after a newer request succeeded does not count the origin as failing again', async () => {
    o = await startOrigin(h)
    // one chunk: its CID is its bytes'
    const bytes = randomContent(64 * 1024)
    await o.publish(bytes)
    const cid = chunkCid(bytes)
    front = await originFront(o.origin.url)
    const web = new WebSeed({ url: front.url, backoff: { initialMs: 20, maxMs: 40 } })
    front.modes.chunks = 'down'
    await expect(web.chunk(cid, bytes.byteLength)).rejects.toThrow()
    expect(web.status().consecutiveFailures).toBe(1)

    // the backoff runs out; a status read probes an origin that now holds the request
    front.modes.chunks = 'hang'
    const f = front
    await until(() => {
      web.status()
      return f.held.length > 0
    }, 5_000)
    const probe = f.held[0]

    // the origin recovers: a real request gets verified bytes (the swarm says so)
    f.modes.chunks = 'healthy'
    const got = await web.chunk(cid, bytes.byteLength)
    expect(Buffer.from(got).equals(Buffer.from(bytes))).toBe(true)
    web.verified(true)
    expect(web.status().consecutiveFailures).toBe(0)

    // the probe sent before it fails late (its connection dropped): that says nothing newer
    probe.res.destroy()
    await until(() => (web as unknown as { inflight: number }).inflight === 0, 5_000)
    expect(web.status()).toMatchObject({ consecutiveFailures: 0, backoffMs: 0 })
    web.stop()
  })
})
