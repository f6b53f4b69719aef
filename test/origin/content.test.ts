import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { verifyManifest } from '../../node/content/index.ts'
import type { Origin, PublishedVersion } from '../../origin/index.ts'
import { Fixture, getJson, MiB } from './utils.ts'

const fx = new Fixture()
let origin: Origin
let file: { path: string; bytes: Buffer }
let v: PublishedVersion

beforeAll(async () => {
  origin = await fx.origin()
  file = await fx.file(3 * MiB + 12_345)
  v = await origin.ingestFile(file.path, { name: 'lesson-07', type: 'video', mime: 'video/mp4' })
})
afterAll(() => fx.cleanup())

const contentUrl = (): string => `${origin.url}/resources/lesson-07/versions/1/content`

async function range(header: string): Promise<Response> {
  return await fetch(contentUrl(), { headers: { Range: header } })
}

describe('origin content API', () => {
  it('serves a manifest signed by the origin key, and chunks with immutable caching', async () => {
    const res = await fetch(`${origin.url}/manifests/${v.manifestCid}`)
    expect(res.status).toBe(200)
    const manifest = await verifyManifest(new Uint8Array(await res.arrayBuffer()), {
      trustedKeys: [origin.publicKey],
    })
    expect(manifest.cid.toString()).toBe(v.manifestCid)
    expect(manifest).toMatchObject({
      name: 'lesson-07',
      type: 'video',
      mime: 'video/mp4',
      size: file.bytes.length,
    })
    const chunk = await fetch(`${origin.url}/chunks/${manifest.chunks[1].toString()}`)
    expect(chunk.status).toBe(200)
    expect(chunk.headers.get('cache-control')).toContain('immutable')
    const etag = chunk.headers.get('etag')!
    expect(Buffer.from(await chunk.arrayBuffer()).equals(file.bytes.subarray(256 * 1024, 512 * 1024))).toBe(
      true,
    )
    const again = await fetch(`${origin.url}/chunks/${manifest.chunks[1].toString()}`, {
      headers: { 'If-None-Match': etag },
    })
    expect(again.status).toBe(304)
  })

  it('answers malformed ids with 400 and unknown ones with 404, as JSON with a code', async () => {
    const bad = await fetch(`${origin.url}/chunks/not-a-cid`)
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('ERR_INVALID_CID')
    // a manifest id where a chunk id is expected
    expect((await fetch(`${origin.url}/chunks/${v.manifestCid}`)).status).toBe(400)
    const unknown = await fetch(
      `${origin.url}/chunks/bafkr4ibatiqcqjh3lrk25m4vjr4y5sx2pjkfuxmodsc6kjbrwqhsk3jm6e`,
    )
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('ERR_NOT_FOUND')
    expect((await fetch(`${origin.url}/resources/nope/versions`)).status).toBe(404)
    expect((await fetch(`${origin.url}/resources/lesson-07/versions/9/content`)).status).toBe(404)
    expect((await fetch(`${origin.url}/resources/lesson-07/versions/abc/content`)).status).toBe(400)
  })

  it('lists resources and versions', async () => {
    expect((await getJson(`${origin.url}/resources`)).resources).toEqual([
      { name: 'lesson-07', type: 'video', latestVersion: 1, versions: 1 },
    ])
    expect((await getJson(`${origin.url}/resources/lesson-07/versions`)).versions[0]).toMatchObject({
      version: 1,
      manifestCid: v.manifestCid,
      mime: 'video/mp4',
    })
  })

  it("lists a resource's own versions only, whatever characters the names hold", async () => {
    const o = await fx.origin()
    const small = await fx.file(1000)
    for (const name of ['math', 'math!grade3', 'math!0000000001', '📐geometry'])
      await o.ingestFile(small.path, { name, type: 'file' })
    await o.ingestFile(small.path, { name: 'math', type: 'file' })
    const names = (await getJson(`${o.url}/resources`)).resources.map((r: { name: string }) => r.name)
    expect(names.sort()).toEqual(['math', 'math!0000000001', 'math!grade3', '📐geometry'])
    const math = await getJson(`${o.url}/resources/math/versions`)
    expect(math.versions.map((x: PublishedVersion) => [x.name, x.version])).toEqual([
      ['math', 1],
      ['math', 2],
    ])
    const grade3 = await getJson(`${o.url}/resources/${encodeURIComponent('math!grade3')}/versions`)
    expect(grade3.versions.map((x: PublishedVersion) => x.name)).toEqual(['math!grade3'])
    expect((await o.listVersions()).map((x) => x.name)).toContain('📐geometry')
  })

  it('streams the whole file and honours Range requests across chunk boundaries', async () => {
    const all = await fetch(contentUrl())
    expect(all.status).toBe(200)
    expect(all.headers.get('accept-ranges')).toBe('bytes')
    expect(all.headers.get('content-type')).toBe('video/mp4')
    expect(Buffer.from(await all.arrayBuffer()).equals(file.bytes)).toBe(true)

    const size = file.bytes.length
    const cases: Array<[string, number, number]> = [
      ['bytes=0-0', 0, 0],
      ['bytes=262000-262200', 262_000, 262_200], // spans chunk 0 and 1
      ['bytes=100-1048676', 100, 1_048_676], // spans five chunks
      [`bytes=${size - 10}-`, size - 10, size - 1],
      ['bytes=-500', size - 500, size - 1],
      [`bytes=3000000-${size + 999}`, 3_000_000, size - 1], // end clamped
    ]
    for (const [header, start, end] of cases) {
      const res = await range(header)
      expect(res.status, header).toBe(206)
      expect(res.headers.get('content-range'), header).toBe(`bytes ${start}-${end}/${size}`)
      const body = Buffer.from(await res.arrayBuffer())
      expect(body.equals(file.bytes.subarray(start, end + 1)), header).toBe(true)
    }
    const past = await range(`bytes=${size}-`)
    expect(past.status).toBe(416)
    expect(past.headers.get('content-range')).toBe(`bytes */${size}`)
    // a malformed or multi-part range is ignored: the whole file is sent
    expect((await range('bytes=0-1,5-6')).status).toBe(200)
  })

  it('reports health and Prometheus metrics', async () => {
    expect((await getJson(`${origin.url}/healthz`)).status).toBe('ok')
    const text = await (await fetch(`${origin.url}/metrics`)).text()
    expect(text).toContain('dandelion_origin_versions_published_total 1')
    expect(text).toMatch(/dandelion_origin_chunk_bytes_served_total \d+/)
    // the store holds the file's chunks
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1])
    expect(value('dandelion_origin_store_bytes')).toBe(origin.store.usage().bytes)
    expect(value('dandelion_origin_store_bytes')).toBe(file.bytes.length)
    // its disk, read with statfs (no floor in these tests)
    expect(value('dandelion_origin_disk_free_bytes')).toBeGreaterThan(0)
    expect(value('dandelion_origin_min_free_disk_bytes')).toBe(0)
  })
})
