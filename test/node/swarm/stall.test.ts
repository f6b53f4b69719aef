/**
 * Per-peer timeouts, scoring, the cap on peers per swarm, and a stalled peer replaced by
 * one that delivers: with real nodes, one of them serving from a store that never answers
 * (a hung disk), so it takes requests and sends nothing.
 */
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'

/** Holds chunks but never hands one out until released (or the read is aborted). */
class HungStore extends MemoryChunkStore {
  readonly release = new AbortController()
  override async get(cid: CID, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
    if (cid.code === 0x55) {
      const signal = AbortSignal.any([this.release.signal, ...(options.signal ? [options.signal] : [])])
      await new Promise((_, reject) => {
        if (signal.aborted) reject(signal.reason)
        signal.addEventListener('abort', () => reject(signal.reason), { once: true })
      })
    }
    return await super.get(cid, options)
  }
}

describe('stalled peers', () => {
  const h = new Harness()
  const stores: HungStore[] = []
  afterEach(async () => {
    for (const s of stores.splice(0)) s.release.abort(new Error('test over'))
    await h.teardown()
  })

  it('scores down peers that take requests and deliver nothing, keeps at most maxPeersPerSwarm, and replaces a stalled peer with one that delivers', async () => {
    const key = await originKey()
    const bytes = randomContent(2 * 1024 * 1024)
    const honest = await h.spawn()
    const m = await addContent(honest.store, bytes, key)
    await honest.seed(m)
    const hung = []
    for (let i = 0; i < 2; i++) {
      const store = new HungStore()
      stores.push(store)
      await store.start()
      await addContent(store, bytes, key) // the same chunks (the manifest is m)
      const node = await h.spawn({ store })
      await node.seed(m)
      hung.push(node)
    }

    const leecher = await h.spawn({ maxPeersPerSwarm: 2, peerStallMs: 1_000 })
    const peers = () => leecher.status().swarms[0]?.peers ?? []
    let mostPeers = 0
    const sampler = setInterval(() => {
      mostPeers = Math.max(mostPeers, peers().length)
    }, 20)
    try {
      for (const n of hung) await h.connect(leecher, n)
      const done = leecher.fetch(m.cid, { signal: AbortSignal.timeout(30_000) })
      done.catch(() => {}) // awaited below; a failure before that is reported there
      // both took requests and sent nothing: stalled, scored below zero, their requests cancelled
      await until(() => peers().length === 2 && peers().every((p) => p.score < 0))
      expect(leecher.status().totals.bytesFromPeers).toBe(0)

      // a peer that delivers connects: it replaces one of them, and the download completes from it
      await h.connect(leecher, honest)
      await done
      expect(Buffer.from(await readAll(leecher, m)).equals(Buffer.from(bytes))).toBe(true)
      expect(leecher.status().totals.bytesFromPeers).toBe(m.size)
      const ids = peers().map((p) => p.peer)
      expect(ids).toContain(honest.peerId.toString())
      expect(ids).toHaveLength(2)
      expect(honest.status().totals.bytesUploaded).toBe(m.size)
    } finally {
      clearInterval(sampler)
    }
    expect(mostPeers).toBe(2)
  })

  it('at the cap, replaces a peer that delivers under a tenth of the fastest one with a newcomer', async () => {
    const key = await originKey()
    const bytes = randomContent(32 * 1024 * 1024)
    const seeder = async (uploadBytesPerSecond: number) => {
      const n = await h.spawn({ limits: { uploadBytesPerSecond } })
      return { n, m: await addContent(n.store, bytes, key) }
    }
    // one manifest for all three (a manifest carries its creation time)
    const { n: fast, m } = await seeder(4 * 1024 * 1024)
    await fast.seed(m)
    const slow = (await seeder(128 * 1024)).n // a 256 KiB chunk every 2 s: under the 3 s stall
    await slow.seed(m)
    const newcomer = (await seeder(4 * 1024 * 1024)).n
    await newcomer.seed(m)

    const leecher = await h.spawn({ maxPeersPerSwarm: 2, peerStallMs: 3_000 })
    const peers = () => (leecher.status().swarms[0]?.peers ?? []).map((p) => p.peer)
    await h.connect(leecher, fast)
    await h.connect(leecher, slow)
    const done = leecher.fetch(m.cid, { signal: AbortSignal.timeout(30_000) })
    done.catch(() => {}) // awaited below
    // the slow peer delivers (its score stays up, it never stalls) but at ~3% of the fast one
    await until(() => (leecher.status().swarms[0]?.chunksDone ?? 0) >= 60)
    expect(peers()).toContain(slow.peerId.toString())
    await h.connect(leecher, newcomer)
    await until(() => peers().includes(newcomer.peerId.toString()))
    expect(peers()).not.toContain(slow.peerId.toString())
    expect(peers()).toContain(fast.peerId.toString())
    await done
    expect(Buffer.from(await readAll(leecher, m)).equals(Buffer.from(bytes))).toBe(true)
    expect(newcomer.status().totals.bytesUploaded).toBeGreaterThan(0)
  })
})
