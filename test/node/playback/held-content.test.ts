/**
 * Content a node holds but cannot or need not fetch again, as a player sees it:
 * - signed by an origin key dropped from `--trusted-origin` too early: the real cause
 *   (502 `UntrustedManifestError`, the signer, the fix), not 404 "not found";
 * - held in full on a node whose quota is smaller than it (lowered, or a device's quota
 *   smaller than one chunk): played, where a range needing room for chunks it does not
 *   hold is still refused with 507.
 */
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import { FsChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE } from '../utils/harness.ts'

interface ErrorBody {
  error: string
  code?: string
  message: string
  signer?: string
  held?: boolean
  fix?: string
}

describe('playback of held content', () => {
  const h = new Harness()
  afterEach(async () => {
    await h.teardown()
  })

  it('names the untrusted signer and the fix for held content signed by a key no longer trusted, by CID and by name', async () => {
    const current = await originKey()
    const dropped = await originKey()
    const node = await h.spawn({ trustedOrigins: [current.publicKey], playback: { port: 0 } })
    // held on disk from before the operator removed the old key from --trusted-origin
    const m = await addContent(node.store, randomContent(600 * 1024), dropped)
    await node.store.put(m.cid, new Uint8Array(m.bytes))
    await node.names.set('lesson', m.cid.toString())
    const signer = peerIdFromPrivateKey(dropped).toString()

    for (const path of [`/content/${m.cid.toString()}`, '/content/by-name/lesson']) {
      const res = await fetch(node.playbackUrl + path, { headers: { range: 'bytes=0-99' } })
      expect(res.status).toBe(502)
      const body = (await res.json()) as ErrorBody
      expect(body).toMatchObject({
        error: 'UntrustedManifestError',
        code: 'ERR_MANIFEST_UNTRUSTED',
        signer,
        held: true,
      })
      expect(body.message).toContain(signer)
      expect(body.message).toContain('--trusted-origin')
      expect(body.fix).toContain(`add ${signer} to --trusted-origin`)
    }
    // the chunks are still there, untouched
    for (const c of m.chunks) expect(await node.store.has(c)).toBe(true)
  })

  it('plays a range held in full on a node whose quota is smaller than one chunk, and refuses one needing room', async () => {
    const key = await originKey()
    const dataDir = await h.tempDir()
    // the content was pinned under a larger quota (4 chunks, the last one not held)
    const before = new FsChunkStore({ dir: join(dataDir, 'store') })
    await before.start()
    const bytes = randomContent(3 * TEST_CHUNK_SIZE + 1000)
    const m = await addContent(before, bytes, key)
    await before.put(m.cid, new Uint8Array(m.bytes))
    await before.pin(m.cid.toString(), [m.cid, ...m.chunks])
    await before.delete(m.chunks[3], { force: true })
    await before.stop()

    // then the quota was lowered below one chunk (a device, say)
    const node = await h.spawn({
      dataDir,
      quotaBytes: TEST_CHUNK_SIZE / 2,
      trustedOrigins: [key.publicKey],
      playback: { port: 0 },
    })
    const url = `${node.playbackUrl}/content/${m.cid.toString()}`

    const end = 3 * TEST_CHUNK_SIZE - 1
    const held = await fetch(url, { headers: { range: `bytes=100-${end}` } })
    expect(held.status).toBe(206)
    expect(Buffer.from(await held.arrayBuffer()).equals(Buffer.from(bytes.subarray(100, end + 1)))).toBe(true)
    const oneChunk = await fetch(url, { headers: { range: 'bytes=10-20' } })
    expect(oneChunk.status).toBe(206)
    expect(Buffer.from(await oneChunk.arrayBuffer()).equals(Buffer.from(bytes.subarray(10, 21)))).toBe(true)

    // the last chunk is not held, and room for it there is not
    const whole = await fetch(url)
    expect(whole.status).toBe(507)
    const body = (await whole.json()) as ErrorBody
    expect(body.error).toBe('QuotaExceededError')
    expect(body.message).toContain("more than this node's whole quota")
  })
})
