import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, until } from '../utils/harness.ts'

describe('playback server', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  it('serves Range reads of content still downloading, by CID and by name', async () => {
    const key = await originKey()
    const bytes = randomContent(4 * 1024 * 1024 + 1000)
    const seeder = await h.spawn({ limits: { uploadBytesPerSecond: 1024 * 1024 } })
    const manifest = await addContent(seeder.store, bytes, key)
    await seeder.seed(manifest)
    const node = await h.spawn({ playback: { port: 0 } })
    await h.connect(node, seeder)
    const base = node.playbackUrl!
    const cid = manifest.cid.toString()

    const missing = await fetch(`${base}/content/by-name/lesson`)
    expect(missing.status).toBe(404)
    expect(((await missing.json()) as { error: string }).error).toBe('NameNotFoundError')

    const download = node.fetch(cid)
    // a seek near the end, answered before replication got there
    const tail = await fetch(`${base}/content/${cid}`, {
      headers: { range: `bytes=${bytes.byteLength - 5000}-` },
    })
    expect(tail.status).toBe(206)
    expect(tail.headers.get('content-range')).toBe(
      `bytes ${bytes.byteLength - 5000}-${bytes.byteLength - 1}/${bytes.byteLength}`,
    )
    expect(
      Buffer.from(await tail.arrayBuffer()).equals(Buffer.from(bytes.subarray(bytes.byteLength - 5000))),
    ).toBe(true)
    // the seeder sends 1 MiB/s for 4 MiB: the tail came first, not after the whole file
    expect(node.status().swarms[0]).toMatchObject({ manifestCid: cid, complete: false })
    expect(node.status().swarms[0]?.chunksDone).toBeLessThan(manifest.chunks.length)

    await node.names.set('lesson', cid)
    const mid = await fetch(`${base}/content/by-name/lesson`, { headers: { range: 'bytes=1000000-1300000' } })
    expect(mid.status).toBe(206)
    expect(mid.headers.get('content-type')).toBe('video/mp4')
    expect(Buffer.from(await mid.arrayBuffer()).equals(Buffer.from(bytes.subarray(1000000, 1300001)))).toBe(
      true,
    )

    const bad = await fetch(`${base}/content/${cid}`, { headers: { range: `bytes=${bytes.byteLength}-` } })
    expect(bad.status).toBe(416)

    // a player asking the size first (HEAD) learns the file's, not the empty body's
    for (const url of [`${base}/content/${cid}`, `${base}/content/by-name/lesson`]) {
      const head = await fetch(url, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-length')).toBe(String(bytes.byteLength))
      expect(head.headers.get('accept-ranges')).toBe('bytes')
      const first = await fetch(url, { method: 'HEAD', headers: { range: 'bytes=0-0' } })
      expect(first.status).toBe(206)
      expect(first.headers.get('content-length')).toBe('1')
    }

    await download
    const whole = await fetch(`${base}/content/${cid}`)
    expect(whole.status).toBe(200)
    expect(Buffer.from(await whole.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)

    const status = (await (await fetch(`${base}/status`)).json()) as {
      swarms: unknown[]
      totals: { bytesFromPeers: number }
    }
    expect(status.swarms[0]).toMatchObject({
      manifestCid: cid,
      complete: true,
      chunksDone: manifest.chunks.length,
    })
    expect(status.totals.bytesFromPeers).toBe(bytes.byteLength)
    const metrics = await (await fetch(`${base}/metrics`)).text()
    expect(metrics).toContain(`dandelion_node_bytes_from_peers_total ${bytes.byteLength}`)
    expect(metrics).toContain('dandelion_node_swarm_progress_ratio{manifest=')
  })

  it('answers 404 ManifestNotFoundError for a manifest nobody has, once its lookup gives up, and keeps no swarm for it', async () => {
    // a valid manifest CID the node has never seen, and no peer or origin can give it
    const elsewhere = new MemoryChunkStore()
    await elsewhere.start()
    const unknown = (await addContent(elsewhere, randomContent(1000), await originKey())).cid.toString()
    const node = await h.spawn({ playback: { port: 0 } })
    // the lookup's 10 s limit (`MANIFEST_LOOKUP_MS`) becomes a signal this test ends: a fake clock for it
    const lookupLimits: AbortController[] = []
    const timeout = AbortSignal.timeout.bind(AbortSignal)
    vi.spyOn(AbortSignal, 'timeout').mockImplementation((ms) => {
      if (ms !== 10_000) return timeout(ms)
      const limit = new AbortController()
      lookupLimits.push(limit)
      return limit.signal
    })

    const response = fetch(`${node.playbackUrl}/content/${unknown}`)
    await until(() => lookupLimits.length === 1)
    // looking: its swarm is joined, so a peer that connects now could answer
    expect(node.status().swarms.map((s) => s.manifestCid)).toEqual([unknown])

    lookupLimits[0].abort(new DOMException('lookup limit reached', 'TimeoutError'))
    const missing = await response
    expect(missing.status).toBe(404)
    expect(await missing.json()).toMatchObject({ error: 'ManifestNotFoundError' })
    // nobody waits for it any more: the node does not keep a swarm for a mistyped CID
    expect(node.status().swarms).toEqual([])
  })
})
