/**
 * Removing a version from the origin (`DELETE /resources/:name/versions/:version`): its
 * disk comes back, the chunks another version or an unfinished upload holds stay, the
 * number is never reused, and a removal a crash cut short is finished at the next start.
 */
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { Catalog } from '../../origin/catalog.ts'
import type { Origin } from '../../origin/index.ts'
import { downloadByChunks, Fixture, getJson, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const CHUNK = 256 * 1024

async function remove(origin: Origin, name: string, version: number, token: string | null = TOKEN) {
  const res = await fetch(`${origin.url}/resources/${name}/versions/${version}`, {
    method: 'DELETE',
    headers: token === null ? {} : { authorization: `Bearer ${token}` },
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

async function ingest(origin: Origin, bytes: Uint8Array, name = 'lesson') {
  const path = join(await fx.dir(), 'file.bin')
  await writeFile(path, bytes)
  return await origin.ingestFile(path, { name, type: 'video', mime: 'video/mp4' })
}

async function chunksOf(origin: Origin, manifestCid: string): Promise<string[]> {
  return (await origin.manifest(manifestCid)).chunks.map((c) => c.toString())
}

describe('removing a version', () => {
  it('deletes the chunks only it held, keeps those the next version shares, and never reuses its number', async () => {
    const origin = await fx.origin()
    // v2 is v1 with its last two chunks changed: 6 chunks shared
    const v1bytes = randomBytes(8 * CHUNK)
    const v2bytes = Buffer.concat([v1bytes.subarray(0, 6 * CHUNK), randomBytes(2 * CHUNK)])
    const v1 = await ingest(origin, v1bytes)
    const v2 = await ingest(origin, v2bytes)
    const only1 = (await chunksOf(origin, v1.manifestCid)).slice(6)
    const before = origin.store.usage()

    const { status, body } = await remove(origin, 'lesson', 1)
    expect(status).toBe(200)
    expect(body).toMatchObject({
      removed: { name: 'lesson', version: 1, manifestCid: v1.manifestCid },
      chunksDeleted: 2,
      chunksKept: 6,
      bytesFreed: 2 * CHUNK,
    })
    expect(origin.store.usage().bytes).toBe(before.bytes - 2 * CHUNK)

    // gone from every listing and lookup
    expect((await fetch(`${origin.url}/manifests/${v1.manifestCid}`)).status).toBe(404)
    expect((await fetch(`${origin.url}/resources/lesson/versions/1/content`)).status).toBe(404)
    for (const c of only1) expect((await fetch(`${origin.url}/chunks/${c}`)).status).toBe(404)
    const listed = await getJson(`${origin.url}/resources/lesson/versions`)
    expect(listed.versions.map((v: { version: number }) => v.version)).toEqual([2])
    expect(listed.resource).toMatchObject({ versions: 1, latestVersion: 2 })
    expect((await origin.listVersions()).map((v) => v.version)).toEqual([2])

    // the version sharing its chunks is whole
    expect((await downloadByChunks(origin.url, v2.manifestCid)).equals(v2bytes)).toBe(true)

    // a second removal finds nothing; the next upload is v3, not v1 again
    expect(await remove(origin, 'lesson', 1)).toMatchObject({
      status: 404,
      body: { error: { code: 'ERR_NOT_FOUND' } },
    })
    expect((await ingest(origin, randomBytes(CHUNK))).version).toBe(3)
  })

  it('needs the upload token: 401 without one, 403 with another, nothing removed', async () => {
    const origin = await fx.origin()
    const v1 = await ingest(origin, randomBytes(2 * CHUNK))
    expect((await remove(origin, 'lesson', 1, null)).status).toBe(401)
    expect((await remove(origin, 'lesson', 1, 'not-the-token')).status).toBe(403)
    expect((await fetch(`${origin.url}/manifests/${v1.manifestCid}`)).status).toBe(200)
    expect((await remove(origin, 'lesson', 0)).status).toBe(400)
  })

  it('keeps the chunks an unfinished upload of the same bytes holds: that upload still publishes whole', async () => {
    const origin = await fx.origin()
    const bytes = randomBytes(6 * CHUNK)
    await ingest(origin, bytes)
    // the same file again, half of it sent (its chunks pinned by the upload's checkpoint)
    const created = await tusRequest(`${origin.url}/uploads`, 'POST', {
      'Upload-Length': String(bytes.length),
      'Upload-Metadata': tusMetadata({ name: 'again', type: 'video', filename: 'a.mp4' }),
    })
    expect(created.status).toBe(201)
    const at = new URL(created.headers.get('location')!, origin.url).toString()
    const half = await tusRequest(
      at,
      'PATCH',
      { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
      bytes.subarray(0, 3 * CHUNK),
    )
    expect(half.status).toBe(204)

    const { body } = await remove(origin, 'lesson', 1)
    expect(body).toMatchObject({ chunksDeleted: 3, chunksKept: 3 })

    const rest = await tusRequest(
      at,
      'PATCH',
      { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(3 * CHUNK) },
      bytes.subarray(3 * CHUNK),
    )
    expect(rest.status).toBe(204)
    let published: { manifestCid: string } | undefined
    for (let i = 0; i < 100 && published === undefined; i++) {
      const res = await fetch(`${origin.url}/resources/again/versions`)
      if (res.status === 200)
        published = ((await res.json()) as { versions: Array<{ manifestCid: string }> }).versions[0]
      else await new Promise((r) => setTimeout(r, 50))
    }
    expect((await downloadByChunks(origin.url, published!.manifestCid)).equals(bytes)).toBe(true)
  })

  it('finishes at the next start a removal a crash cut short after the catalog forgot the version', async () => {
    const dataDir = await fx.dir()
    let origin = await fx.origin({ dataDir })
    const v1 = await ingest(origin, randomBytes(4 * CHUNK))
    const chunks = await chunksOf(origin, v1.manifestCid)
    await origin.close()
    // the catalog's batch, and nothing after it: the chunks are still pinned and stored
    const catalog = new Catalog(join(dataDir, 'catalog'))
    await catalog.open()
    await catalog.remove('lesson', 1)
    expect((await catalog.pendingRemovals()).map(([cid]) => cid)).toEqual([v1.manifestCid])
    await catalog.close()

    origin = await fx.origin({ dataDir })
    for (const c of chunks) expect(await origin.store.has(CID.parse(c))).toBe(false)
    expect(origin.store.pins()).not.toContain(v1.manifestCid)
    expect(origin.store.usage().bytes).toBe(0)
    await origin.close()
    const again = new Catalog(join(dataDir, 'catalog'))
    await again.open()
    expect(await again.pendingRemovals()).toEqual([])
    await again.close()
  })

  it('counts removals in /metrics', async () => {
    const origin = await fx.origin()
    await ingest(origin, randomBytes(2 * CHUNK + 1000))
    await remove(origin, 'lesson', 1)
    const text = await (await fetch(`${origin.url}/metrics`)).text()
    expect(text).toMatch(/^dandelion_origin_versions_removed_total 1$/m)
    expect(text).toMatch(new RegExp(`^dandelion_origin_removed_bytes_total ${2 * CHUNK + 1000}$`, 'm'))
  })
})
