import { randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { manifestCid } from '../../node/content/cid.ts'
import { MAX_MANIFEST_LOOKUPS } from '../../node/node-constants.ts'
import { Harness, randomContent, until } from './utils/harness.ts'
import { originFront, startOrigin, type TestOrigin } from './utils/origin.ts'

describe('looking up a manifest the node does not hold', () => {
  const h = new Harness()
  let o: TestOrigin | undefined
  let server: Server | undefined
  afterEach(async () => {
    await h.teardown()
    await o?.close()
    server?.close()
  })

  it('outlasts an origin outage and a caller that gave up during it', async () => {
    o = await startOrigin(h)
    const version = await o.publish(randomContent(512 * 1024))
    await o.seeder.stop() // no peers: the origin is the only source
    const f = await originFront(o.origin.url)
    f.modes.manifests = 'down'
    server = f.server
    const node = await h.spawn({
      originUrl: f.url,
      trustedOrigins: [o.origin.publicKey],
      originBackoff: { initialMs: 50, maxMs: 200 },
    })
    // a player that gives up while the origin is down
    await expect(node.manifest(version.manifestCid, { signal: AbortSignal.timeout(300) })).rejects.toThrow()
    // someone who waits through the outage
    const patient = node.manifest(version.manifestCid, { signal: AbortSignal.timeout(20_000) })
    await until(() => f.asks.manifests >= 2)
    f.modes.manifests = 'healthy'
    expect((await patient).cid.toString()).toBe(version.manifestCid)
    // and the next one gets it at once
    expect((await node.manifest(version.manifestCid, { signal: AbortSignal.timeout(1000) })).size).toBe(
      512 * 1024,
    )
  })

  it('leaves no swarm and stops asking the origin once nobody waits', async () => {
    o = await startOrigin(h)
    const version = await o.publish(randomContent(256 * 1024))
    await o.seeder.stop()
    const f = await originFront(o.origin.url)
    f.modes.manifests = 'down'
    server = f.server
    const node = await h.spawn({
      originUrl: f.url,
      trustedOrigins: [o.origin.publicKey],
      originBackoff: { initialMs: 50, maxMs: 100 },
    })
    // a CID nobody has (a mistyped link, a probe of the playback port), asked many times
    for (let n = 0; n < 5; n++) {
      const unknown = manifestCid(randomBytes(64)).toString()
      await expect(node.manifest(unknown, { signal: AbortSignal.timeout(200) })).rejects.toThrow()
    }
    expect(node.status().swarms).toEqual([])
    const asked = f.asks.manifests
    await new Promise((r) => setTimeout(r, 500))
    expect(f.asks.manifests).toBe(asked)
    // and a real download is not refused for the lookups that came before
    f.modes.manifests = 'healthy'
    expect((await node.fetch(version.manifestCid, { signal: AbortSignal.timeout(20_000) })).size).toBe(
      256 * 1024,
    )
  })

  it('answers players asking for made-up content 503 past the cap on lookups, and downloads still start', async () => {
    o = await startOrigin(h)
    const version = await o.publish(randomContent(256 * 1024))
    const node = await h.spawn({
      originUrl: o.origin.url,
      trustedOrigins: [o.origin.publicKey],
      playback: { port: 0 },
    })
    const players = new AbortController()
    const asks = Array.from({ length: MAX_MANIFEST_LOOKUPS + 16 }, () =>
      fetch(`${node.playbackUrl}/content/${manifestCid(randomBytes(64)).toString()}`, {
        signal: players.signal,
      })
        .then((r) => ({ status: r.status, retryAfter: r.headers.get('retry-after') }))
        .catch(() => ({ status: 0, retryAfter: null })),
    )
    try {
      // the lookups past the cap are refused at once, the others wait for an answer
      const refused = await Promise.race([
        Promise.all(asks.slice(-16)),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no 503 within 5 s')), 5000)),
      ])
      expect(refused.filter((r) => r.status === 503).length).toBeGreaterThan(0)
      expect(refused.find((r) => r.status === 503)?.retryAfter).toMatch(/^\d+$/)
      // a download is not refused while they wait
      const m = await node.fetch(version.manifestCid, { signal: AbortSignal.timeout(20_000) })
      expect(m.size).toBe(256 * 1024)
    } finally {
      players.abort()
      await Promise.all(asks)
    }
    // the players went away: only the real download's swarm is left
    await until(() => node.status().swarms.length === 1)
    expect(node.status().swarms[0].manifestCid).toBe(version.manifestCid)
  })

  it('remembers a download from before its lookup: forgotten when given up, kept through a stop', async () => {
    const dataDir = await h.tempDir()
    const node = await h.spawn({ dataDir })
    const unknown = manifestCid(randomBytes(64)).toString()
    const wanted = (n: typeof node): string[] => n.store.pins().filter((p) => p.startsWith('want:'))
    // one caller gives up while the manifest is not found: nothing is left behind
    await expect(node.fetch(unknown, { signal: AbortSignal.timeout(200) })).rejects.toThrow()
    expect(wanted(node)).toEqual([])
    expect(node.status().swarms).toEqual([])

    // another caller still waits when one gives up: the download stays recorded
    const waiting = node.fetch(unknown)
    waiting.catch(() => {})
    const quitter = new AbortController()
    const quitting = node.fetch(unknown, { signal: quitter.signal })
    quitting.catch(() => {})
    await until(() => wanted(node).length === 1)
    quitter.abort()
    await expect(quitting).rejects.toThrow()
    expect(wanted(node)).toEqual([`want:${unknown}`])
    // a stop ends the lookup but is not the caller giving up: the next start carries on
    await node.stop()
    await expect(waiting).rejects.toThrow()
    const again = await h.spawn({ dataDir })
    expect(wanted(again)).toEqual([`want:${unknown}`])
    expect(again.status().swarms.map((s) => s.manifestCid)).toEqual([unknown])
  })
})
