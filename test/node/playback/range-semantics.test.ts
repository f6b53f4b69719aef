/**
 * The Range requests browsers and players send (RFC 9110 §14), against a node holding a
 * lesson on its on-disk store: each answer checked byte for byte.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent, TEST_CHUNK_SIZE } from '../utils/harness.ts'

describe('playback Range semantics (RFC 9110 §14)', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('answers single, open, suffix, past-the-end, multiple and malformed ranges as the RFC allows', async () => {
    const key = await originKey()
    const node = await h.spawn({ dataDir: await h.tempDir(), playback: { port: 0 } })
    const size = 3 * TEST_CHUNK_SIZE + 777
    const bytes = randomContent(size)
    const m = await addContent(node.store, bytes, key)
    await node.seed(m)
    const url = `${node.playbackUrl}/content/${m.cid.toString()}`
    const get = async (range?: string, init: RequestInit = {}) => {
      const response = await fetch(url, {
        ...init,
        headers: { ...(range === undefined ? {} : { range }), ...(init.headers as object) },
      })
      return { response, body: Buffer.from(await response.arrayBuffer()) }
    }
    const slice = (start: number, end: number) => Buffer.from(bytes.subarray(start, end + 1))

    // satisfiable single ranges: 206, Content-Range, exactly those bytes
    const partial: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0],
      ['bytes=10-20', 10, 20],
      // across a chunk boundary
      [`bytes=${TEST_CHUNK_SIZE - 5}-${TEST_CHUNK_SIZE + 5}`, TEST_CHUNK_SIZE - 5, TEST_CHUNK_SIZE + 5],
      [`bytes=${TEST_CHUNK_SIZE}-`, TEST_CHUNK_SIZE, size - 1],
      // a last-pos past the end is the end (§14.1.1)
      [`bytes=${size - 3}-${size + 1000}`, size - 3, size - 1],
      ['bytes=-500', size - 500, size - 1],
      // a suffix longer than the content is the whole content
      [`bytes=-${size * 2}`, 0, size - 1],
      // the unit is case-insensitive, whitespace around it tolerated
      ['Bytes=5-9', 5, 9],
    ]
    for (const [range, start, end] of partial) {
      const { response, body } = await get(range)
      expect(response.status, range).toBe(206)
      expect(response.headers.get('content-range'), range).toBe(`bytes ${start}-${end}/${size}`)
      expect(response.headers.get('content-length'), range).toBe(String(end - start + 1))
      expect(body.equals(slice(start, end)), range).toBe(true)
    }

    // unsatisfiable: 416 with the size, so the player learns it (§15.5.17)
    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, 'bytes=-0']) {
      const { response, body } = await get(range)
      expect(response.status, range).toBe(416)
      expect(response.headers.get('content-range'), range).toBe(`bytes */${size}`)
      expect(body.byteLength, range).toBe(0)
    }

    // "A server MAY ignore the Range header field" (§14.2): several ranges, other units and
    // invalid ranges get the whole content with 200, never a 206 of something else
    for (const range of [
      'bytes=0-1,5-6',
      'bytes=0-1, 5-6',
      `bytes=0-0,-1`,
      'items=0-5',
      'bytes=9-5',
      'bytes=abc',
      'bytes=',
      'bytes=-',
      '',
      'bytes 0-5',
      'bytes=0x10-0x20',
      'bytes=1.5-3',
    ]) {
      const { response, body } = await get(range)
      expect(response.status, range).toBe(200)
      expect(response.headers.get('content-range'), range).toBeNull()
      expect(response.headers.get('content-length'), range).toBe(String(size))
      expect(body.equals(Buffer.from(bytes)), range).toBe(true)
    }

    // HEAD: the headers a GET would carry, no body
    const head = await get(undefined, { method: 'HEAD' })
    expect(head.response.status).toBe(200)
    expect(head.response.headers.get('content-length')).toBe(String(size))
    expect(head.response.headers.get('accept-ranges')).toBe('bytes')
    expect(head.response.headers.get('etag')).toBe(`"${m.cid.toString()}"`)
    expect(head.body.byteLength).toBe(0)
    const headPast = await get(`bytes=${size}-`, { method: 'HEAD' })
    expect(headPast.response.status).toBe(416)
    expect(headPast.response.headers.get('content-range')).toBe(`bytes */${size}`)

    // If-Range: the same version resumes, a weak or other tag gets everything (§13.1.5)
    const etag = `"${m.cid.toString()}"`
    const same = await get('bytes=100-199', { headers: { 'if-range': etag } })
    expect(same.response.status).toBe(206)
    expect(same.body.equals(slice(100, 199))).toBe(true)
    for (const other of [`W/${etag}`, '"bafyother"']) {
      const whole = await get('bytes=100-199', { headers: { 'if-range': other } })
      expect(whole.response.status, other).toBe(200)
      expect(whole.body.equals(Buffer.from(bytes)), other).toBe(true)
    }
  })

  it('serves an empty lesson: 200 with no body, and 416 bytes */0 to any range', async () => {
    const key = await originKey()
    const node = await h.spawn({ playback: { port: 0 } })
    const m = await addContent(node.store, new Uint8Array(0), key)
    await node.seed(m)
    const url = `${node.playbackUrl}/content/${m.cid.toString()}`
    const whole = await fetch(url)
    expect(whole.status).toBe(200)
    expect(whole.headers.get('content-length')).toBe('0')
    expect((await whole.arrayBuffer()).byteLength).toBe(0)
    for (const range of ['bytes=0-', 'bytes=-1']) {
      const r = await fetch(url, { headers: { range } })
      expect(r.status, range).toBe(416)
      expect(r.headers.get('content-range'), range).toBe('bytes */0')
      await r.arrayBuffer()
    }
  })

  it('answers 400 InvalidCidError to a malformed CID or a chunk CID, and looks nothing up', async () => {
    const key = await originKey()
    const node = await h.spawn({ playback: { port: 0 } })
    const m = await addContent(node.store, randomContent(1000), key)
    for (const text of ['not-a-cid', 'bafy', m.chunks[0].toString(), `${m.cid.toString()}x`]) {
      const r = await fetch(`${node.playbackUrl}/content/${encodeURIComponent(text)}`)
      expect(r.status, text).toBe(400)
      expect(await r.json(), text).toMatchObject({ error: 'InvalidCidError' })
    }
    expect(node.status().swarms).toEqual([])
  })
})
