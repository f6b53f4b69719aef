/**
 * Content whose manifest the node holds but whose chunks nobody can deliver (no peer holds
 * them, the origin is down): a player gets a clear error within the playback server's
 * bound, not a response that never ends, and the node keeps no reader for it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { startPlayback } from '../../../node/playback/server.ts'
import { MemoryChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'
import { swarmInternals } from './introspect.ts'

/** A bound for the test itself: well past the server's, so old code fails instead of hanging. */
const TEST_BOUND_MS = 15_000

describe('playback of content nobody can deliver', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  /** A node with the manifest of a lesson (and the chunks `held`) on disk, no peers, a dead origin. */
  async function stranded(held: number[]): Promise<{ node: DandelionNode; m: Manifest; bytes: Uint8Array }> {
    const key = await originKey()
    const bytes = randomContent(4 * TEST_CHUNK_SIZE)
    const elsewhere = new MemoryChunkStore()
    await elsewhere.start()
    const m = await addContent(elsewhere, bytes, key)
    await elsewhere.stop()
    // a loopback port nothing listens on: the origin fallback fails and backs off
    const node = await h.spawn({
      dataDir: await h.tempDir(),
      originUrl: 'http://127.0.0.1:9',
      fallbackIdleMs: 50,
    })
    await node.store.put(m.cid, new Uint8Array(m.bytes))
    for (const i of held) await node.store.add(bytes.slice(i * TEST_CHUNK_SIZE, (i + 1) * TEST_CHUNK_SIZE))
    return { node, m, bytes }
  }

  it('answers 504 ChunkTimeoutError when no byte can be had, and lets go of the reader', async () => {
    const { node, m } = await stranded([])
    const playback = await startPlayback(node, { chunkWaitMs: 300 })
    try {
      const response = await fetch(`${playback.url}/content/${m.cid.toString()}`, {
        headers: { range: 'bytes=1000-2000' },
        signal: AbortSignal.timeout(TEST_BOUND_MS),
      })
      expect(response.status).toBe(504)
      expect(response.headers.get('content-range')).toBeNull()
      expect(await response.json()).toMatchObject({ error: 'ChunkTimeoutError' })
      const swarm = swarmInternals(node, m.cid.toString())
      await until(() => swarm.openReads === 0)
      expect(swarm.waiting).toBe(0)
      // operators see it
      const metrics = await (await fetch(`${playback.url}/metrics`)).text()
      expect(metrics).toContain('dandelion_node_playback_chunk_timeouts_total 1')
      expect(metrics).toContain('dandelion_node_playback_reads 0')
    } finally {
      await playback.close()
    }
  })

  it('keeps a player waiting, past the bound, while the lesson is still arriving', async () => {
    const key = await originKey()
    const bytes = randomContent(16 * TEST_CHUNK_SIZE)
    // two chunks a second: the player's chunk queues behind a window of replication requests
    const seeder = await h.spawn({ limits: { uploadBytesPerSecond: 2 * TEST_CHUNK_SIZE } })
    const m = await addContent(seeder.store, bytes, key)
    await seeder.seed(m)
    const node = await h.spawn({ dataDir: await h.tempDir() })
    await h.connect(node, seeder)
    const playback = await startPlayback(node, { chunkWaitMs: 1000 })
    try {
      const download = node.fetch(m.cid)
      // awaited below; a test failing first must not leave it unhandled
      download.catch(() => {})
      await until(() => (node.status().swarms[0]?.chunksDone ?? 0) > 0)
      const start = 12 * TEST_CHUNK_SIZE + 5
      const response = await fetch(`${playback.url}/content/${m.cid.toString()}`, {
        headers: { range: `bytes=${start}-` },
        signal: AbortSignal.timeout(TEST_BOUND_MS * 2),
      })
      expect(response.status).toBe(206)
      expect(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(bytes.subarray(start)))).toBe(true)
      await download
    } finally {
      await playback.close()
    }
  })

  it('cuts a response short when a later chunk cannot be had, instead of stalling it forever', async () => {
    const { node, m, bytes } = await stranded([0])
    const playback = await startPlayback(node, { chunkWaitMs: 300 })
    try {
      const response = await fetch(`${playback.url}/content/${m.cid.toString()}`, {
        signal: AbortSignal.timeout(TEST_BOUND_MS),
      })
      // the first chunk is here: the response starts
      expect(response.status).toBe(200)
      expect(response.headers.get('content-length')).toBe(String(bytes.byteLength))
      const reader = response.body!.getReader()
      let received = 0
      const error = await (async () => {
        try {
          for (;;) {
            const { done, value } = await reader.read()
            if (done) return undefined
            received += value.byteLength
          }
        } catch (err) {
          return err as Error
        }
      })()
      // a truncated body the player notices (and asks again with a Range), not a hang or
      // a complete-looking short one
      expect(error).toBeInstanceOf(Error)
      expect(error!.name).not.toBe('TimeoutError')
      expect(received).toBe(TEST_CHUNK_SIZE)
      const swarm = swarmInternals(node, m.cid.toString())
      await until(() => swarm.openReads === 0)
      expect(swarm.waiting).toBe(0)
      const metrics = await (await fetch(`${playback.url}/metrics`)).text()
      expect(metrics).toContain('dandelion_node_playback_chunk_timeouts_total 1')
    } finally {
      await playback.close()
    }
  })
})
