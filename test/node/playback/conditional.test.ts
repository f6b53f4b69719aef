import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

describe('playback conditional requests (RFC 9110 §13)', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('resuming a name whose version changed gets the whole new version, not its bytes spliced onto the old', async () => {
    const key = await originKey()
    const node = await h.spawn({ playback: { port: 0 } })
    const v1 = await addContent(node.store, randomContent(600_000), key)
    const v2bytes = randomContent(700_000)
    const v2 = await addContent(node.store, v2bytes, key)
    await node.seed(v1)
    await node.seed(v2)
    const url = `${node.playbackUrl}/content/by-name/lesson`

    await node.names.set('lesson', v1.cid.toString())
    const first = await fetch(url, { headers: { range: 'bytes=0-99999' } })
    expect(first.status).toBe(206)
    const v1tag = first.headers.get('etag')!
    await first.arrayBuffer()

    // the lesson is republished while a player or `curl -C -` is part way through
    await node.names.set('lesson', v2.cid.toString())
    const resumed = await fetch(url, { headers: { range: 'bytes=100000-', 'if-range': v1tag } })
    expect(resumed.status).toBe(200)
    expect(resumed.headers.get('content-range')).toBeNull()
    expect(resumed.headers.get('etag')).toBe(`"${v2.cid.toString()}"`)
    expect(Buffer.from(await resumed.arrayBuffer()).equals(Buffer.from(v2bytes))).toBe(true)

    // the same version: the range is served
    const same = await fetch(url, {
      headers: { range: 'bytes=100000-100009', 'if-range': `"${v2.cid.toString()}"` },
    })
    expect(same.status).toBe(206)
    expect(Buffer.from(await same.arrayBuffer()).equals(Buffer.from(v2bytes.subarray(100000, 100010)))).toBe(
      true,
    )
    // a date cannot match: no Last-Modified is sent
    const dated = await fetch(url, {
      headers: { range: 'bytes=0-9', 'if-range': new Date().toUTCString() },
    })
    expect(dated.status).toBe(200)
    expect((await dated.arrayBuffer()).byteLength).toBe(v2bytes.byteLength)
  })

  it('answers 304 without a body to a browser revalidating what it cached, and 412 to a failed If-Match', async () => {
    const key = await originKey()
    const node = await h.spawn({ playback: { port: 0 } })
    const bytes = randomContent(500_000)
    const m = await addContent(node.store, bytes, key)
    await node.seed(m)
    const url = `${node.playbackUrl}/content/${m.cid.toString()}`
    const etag = `"${m.cid.toString()}"`

    for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      for (const method of ['GET', 'HEAD']) {
        const cached = await fetch(url, { method, headers: { 'if-none-match': ifNoneMatch } })
        expect(cached.status).toBe(304)
        expect(cached.headers.get('etag')).toBe(etag)
        expect((await cached.arrayBuffer()).byteLength).toBe(0)
      }
    }
    // another tag (the name's previous version): the content
    const changed = await fetch(url, { headers: { 'if-none-match': '"other"' } })
    expect(changed.status).toBe(200)
    expect(Buffer.from(await changed.arrayBuffer()).equals(Buffer.from(bytes))).toBe(true)

    const failed = await fetch(url, { headers: { 'if-match': '"other"' } })
    expect(failed.status).toBe(412)
    expect((await failed.arrayBuffer()).byteLength).toBe(0)
    const matched = await fetch(url, { headers: { 'if-match': etag, range: 'bytes=0-9' } })
    expect(matched.status).toBe(206)
    expect(Buffer.from(await matched.arrayBuffer()).equals(Buffer.from(bytes.subarray(0, 10)))).toBe(true)
  })
})
