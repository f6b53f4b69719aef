/**
 * A peer that serves corrupt chunks while a player streams from the node: every chunk is
 * verified before it is stored or served, so the player gets the right bytes, from an
 * honest peer or the origin, and never the corrupt ones.
 */
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryChunkStore } from '../../../node/store/index.ts'
import { createOrigin } from '../../../origin/index.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE, until } from '../utils/harness.ts'

/** A store that flips a byte of every chunk it hands out: what a broken or malicious peer serves. */
class CorruptingStore extends MemoryChunkStore {
  override async get(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    const bytes = (await super.get(cid, options)).slice()
    if (cid.code === 0x55) bytes[0] ^= 0xff
    return bytes
  }
}

describe('playback with a peer serving corrupt chunks', () => {
  const h = new Harness()
  const stores: CorruptingStore[] = []
  afterEach(async () => {
    await h.teardown()
    for (const s of stores.splice(0)) await s.stop()
  })

  async function evilPeer(bytes: Uint8Array, key: Awaited<ReturnType<typeof originKey>>) {
    const store = new CorruptingStore()
    stores.push(store)
    await store.start()
    const m = await addContent(store, bytes, key)
    const evil = await h.spawn({ store })
    await evil.seed(m)
    return { evil, m }
  }

  it('plays the right bytes from an honest peer once the corrupt one is caught', async () => {
    const key = await originKey()
    const bytes = randomContent(8 * TEST_CHUNK_SIZE + 4321)
    const { evil, m } = await evilPeer(bytes, key)
    const honest = await h.spawn()
    await addContent(honest.store, bytes, key)
    await honest.seed(m)
    const node = await h.spawn({ dataDir: await h.tempDir(), playback: { port: 0 } })
    await h.connect(node, evil)

    // the player starts while only the corrupt peer is there
    const response = fetch(`${node.playbackUrl}/content/${m.cid.toString()}`, {
      headers: { range: `bytes=${TEST_CHUNK_SIZE - 100}-` },
    })
    await until(() => node.status().totals.corruptChunks > 0)
    await h.connect(node, honest)
    const r = await response
    expect(r.status).toBe(206)
    const body = Buffer.from(await r.arrayBuffer())
    expect(body.equals(Buffer.from(bytes.subarray(TEST_CHUNK_SIZE - 100)))).toBe(true)
    // the corrupt peer is banned and gone from the swarm
    expect(node.status().bannedPeers).toBe(1)
    expect(node.status().swarms[0].peers.map((p) => p.peer)).not.toContain(evil.peerId.toString())
  })

  it('plays the right bytes from the origin when the only peer serves corrupt chunks', async () => {
    const key = await originKey()
    const bytes = randomContent(6 * TEST_CHUNK_SIZE + 99)
    const { evil, m } = await evilPeer(bytes, key)
    // the origin holds the same chunks (it signed the manifest)
    const origin = await createOrigin({
      dataDir: await h.tempDir(),
      token: 'test',
      port: 0,
      chunkSize: TEST_CHUNK_SIZE,
      hashWorkers: 0,
      privateKey: key,
      minFreeDiskBytes: 0,
    })
    try {
      for (let i = 0; i < m.chunks.length; i++)
        await origin.store.add(bytes.slice(i * TEST_CHUNK_SIZE, (i + 1) * TEST_CHUNK_SIZE))
      const node = await h.spawn({
        dataDir: await h.tempDir(),
        playback: { port: 0 },
        originUrl: origin.url,
        fallbackIdleMs: 100,
      })
      await h.connect(node, evil)
      const r = await fetch(`${node.playbackUrl}/content/${m.cid.toString()}`)
      expect(r.status).toBe(200)
      expect(Buffer.from(await r.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)
      expect(node.status().totals.corruptChunks).toBeGreaterThan(0)
      expect(node.status().totals.bytesFromOrigin).toBeGreaterThan(0)
    } finally {
      await origin.close()
    }
  })
})
