import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { uploadFile } from '../../origin/client.ts'
import { downloadByChunks, Fixture, getJson, MiB, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const octets = { 'Content-Type': 'application/offset+octet-stream' }

/** Creates an empty upload of a video named `name`; returns its URL. */
async function createVideoUpload(originUrl: string, name: string, size: number): Promise<string> {
  const created = await tusRequest(`${originUrl}/uploads`, 'POST', {
    'Upload-Length': String(size),
    'Upload-Metadata': tusMetadata({ name, type: 'video' }),
  })
  return created.headers.get('location')!
}

async function content(url: string, name: string): Promise<Buffer> {
  const res = await fetch(`${url}/resources/${encodeURIComponent(name)}/versions/1/content`)
  expect(res.status).toBe(200)
  return Buffer.from(await res.arrayBuffer())
}

describe('origin uploads: edges of the tus protocol', () => {
  it('answers a POST that completes its upload with 201 and the version, and publishes it once', async () => {
    const origin = await fx.origin()
    // creation-with-upload: the whole lesson in the POST body
    const body = new Uint8Array(1000).fill(7)
    const created = await tusRequest(
      `${origin.url}/uploads`,
      'POST',
      {
        ...octets,
        'Upload-Length': '1000',
        'Upload-Metadata': tusMetadata({ name: 'in-post', type: 'file' }),
      },
      body,
    )
    expect(created.status).toBe(201)
    expect(created.headers.get('upload-offset')).toBe('1000')
    expect(created.headers.get('dandelion-version')).toBe('1')
    expect(created.headers.get('location')).toMatch(/\/uploads\/[0-9a-f]{32}$/)
    expect((await content(origin.url, 'in-post')).equals(Buffer.from(body))).toBe(true)

    // an empty file, as `dandelion upload` sends it: complete at creation
    const empty = join(await fx.dir(), 'empty.txt')
    await writeFile(empty, '')
    const opts = { origin: origin.url, token: TOKEN, name: 'empty', type: 'file' as const, retryDelays: [] }
    const result = await uploadFile(empty, opts)
    expect(result).toMatchObject({ name: 'empty', version: 1 })
    expect((await downloadByChunks(origin.url, result.manifestCid)).length).toBe(0)
    expect((await getJson(`${origin.url}/resources/empty/versions`)).versions).toHaveLength(1)
  })

  it('stops a PATCH that brings the disk below the minimum free space with 507, keeping what it stored', async () => {
    let disk = 18 * MiB
    // the volume fills as the store takes chunks
    const origin = await fx.origin({
      minFreeDiskBytes: 4 * MiB,
      freeDiskBytes: async () => disk - origin.store.usage().bytes,
    })
    const file = await fx.file(24 * MiB + 5)
    const location = await createVideoUpload(origin.url, 'lesson-big', file.bytes.length)
    // the whole file in one PATCH, as the upload client sends it
    const full = await tusRequest(location, 'PATCH', { ...octets, 'Upload-Offset': '0' }, file.bytes)
    expect(full.status).toBe(507)
    expect(((await full.json()) as { error: { code: string } }).error.code).toBe('ERR_INSUFFICIENT_STORAGE')
    expect(origin.store.usage().bytes).toBeLessThan(disk)
    const head = await tusRequest(location, 'HEAD')
    const offset = Number(head.headers.get('upload-offset'))
    expect(offset).toBeGreaterThan(0)
    expect(offset).toBeLessThan(file.bytes.length)

    // space is freed: the upload resumes from what was kept
    disk = 100 * MiB
    const rest = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': String(offset) },
      file.bytes.subarray(offset),
    )
    expect(rest.status).toBe(204)
    expect((await content(origin.url, 'lesson-big')).equals(file.bytes)).toBe(true)
  })

  it("answers 507, not 500, when the store's index runs out of disk space, and resumes after", async () => {
    const origin = await fx.origin()
    const pin = origin.store.pin.bind(origin.store)
    let full = true
    origin.store.pin = async (...args) => {
      // LevelDB's error on a full disk: no errno, its code and the C library's text
      if (full)
        throw Object.assign(new Error('IO error: index/000003.log: No space left on device'), {
          code: 'LEVEL_IO_ERROR',
        })
      return await pin(...args)
    }
    const file = await fx.file(MiB + 3)
    const location = await createVideoUpload(origin.url, 'lesson-full', file.bytes.length)
    const res = await tusRequest(location, 'PATCH', { ...octets, 'Upload-Offset': '0' }, file.bytes)
    expect(res.status).toBe(507)
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_INSUFFICIENT_STORAGE')

    full = false
    const offset = Number((await tusRequest(location, 'HEAD')).headers.get('upload-offset'))
    const rest = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': String(offset) },
      file.bytes.subarray(offset),
    )
    expect(rest.status).toBe(204)
    expect((await content(origin.url, 'lesson-full')).equals(file.bytes)).toBe(true)
  })
})
