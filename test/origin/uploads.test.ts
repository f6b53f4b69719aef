import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { uploadFile } from '../../origin/client.ts'
import { EXPIRY_SWEEP_INTERVAL_MS } from '../../origin/constants.ts'
import type { Origin, PublishedVersion } from '../../origin/index.ts'
import { downloadByChunks, Fixture, getJson, MiB, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(async () => {
  vi.useRealTimers()
  await fx.cleanup()
})

/** Makes the next `times` pins of a version in the origin's store fail, as a disk hiccup would. */
function failPins(origin: Origin, times: number): void {
  const pin = origin.store.pin.bind(origin.store)
  let left = times
  origin.store.pin = async (...args) => {
    // uploads pin their chunks as they arrive: only publishing is meant to fail
    if (!args[0].startsWith('upload:') && left-- > 0) throw new Error('injected pin failure')
    return await pin(...args)
  }
}

/** Resolves with the next version the origin publishes. */
function nextVersion(origin: Origin): Promise<PublishedVersion> {
  return new Promise((resolve) => {
    const off = origin.onVersion((v) => {
      off()
      resolve(v)
    })
  })
}

async function createUpload(url: string, length: number, meta: Record<string, string>): Promise<Response> {
  return await tusRequest(`${url}/uploads`, 'POST', {
    'Upload-Length': String(length),
    'Upload-Metadata': tusMetadata(meta),
  })
}

describe('origin uploads (tus)', () => {
  it('resumes an interrupted 64 MiB upload and serves chunks that reassemble to the same bytes', async () => {
    const origin = await fx.origin()
    const file = await fx.file(64 * MiB)
    const stateFile = join(await fx.dir(), 'uploads.json')
    const opts = {
      origin: origin.url,
      token: TOKEN,
      name: 'grade3-math-07',
      type: 'video' as const,
      stateFile,
    }

    // first attempt: aborted after a third of the file
    const ctl = new AbortController()
    let sentBeforeAbort = 0
    await expect(
      uploadFile(file.path, {
        ...opts,
        chunkSize: 4 * MiB,
        signal: ctl.signal,
        onProgress: (sent, total) => {
          sentBeforeAbort = sent
          if (sent > total / 3) ctl.abort()
        },
      }),
    ).rejects.toThrow()
    expect(sentBeforeAbort).toBeGreaterThan(0)

    // second attempt resumes where the first left off
    let firstProgress = -1
    const result = await uploadFile(file.path, {
      ...opts,
      chunkSize: 4 * MiB,
      onProgress: (sent) => {
        if (firstProgress < 0) firstProgress = sent
      },
    })
    expect(result.resumed).toBe(true)
    expect(result.version).toBe(1)
    expect(firstProgress).toBeGreaterThanOrEqual(16 * MiB)

    const back = await downloadByChunks(origin.url, result.manifestCid)
    expect(back.equals(file.bytes)).toBe(true)
    // once published, a HEAD reports the upload complete, with its version
    const head = await tusRequest(result.uploadUrl, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers.get('upload-offset')).toBe(String(64 * MiB))
    expect(head.headers.get('dandelion-version')).toBe('1')
    const versions = await getJson(`${origin.url}/resources/grade3-math-07/versions`)
    expect(versions.versions).toHaveLength(1)
    expect(versions.versions[0]).toMatchObject({
      version: 1,
      size: 64 * MiB,
      manifestCid: result.manifestCid,
    })
  })

  it('numbers versions per resource name and checks a whole-file checksum', async () => {
    const origin = await fx.origin()
    const a = await fx.file(MiB + 3)
    const b = await fx.file(2 * MiB)
    const opts = { origin: origin.url, token: TOKEN, name: 'app-pack', type: 'app' as const }
    expect((await uploadFile(a.path, { ...opts, sha256: a.sha256 })).version).toBe(1)
    expect((await uploadFile(b.path, opts)).version).toBe(2)
    const bad = uploadFile(a.path, { ...opts, sha256: b.sha256, retryDelays: [] })
    await expect(bad).rejects.toMatchObject({ name: 'UploadFailedError', status: 422 })
    const versions = await getJson(`${origin.url}/resources/app-pack/versions`)
    expect(versions.versions.map((v: { version: number }) => v.version)).toEqual([1, 2])
  })

  it('refuses bad requests with clear errors and loses nothing', async () => {
    let free = 10 * MiB
    const origin = await fx.origin({
      maxUploadBytes: 4 * MiB,
      minFreeDiskBytes: MiB,
      freeDiskBytes: async () => free,
    })
    const meta = { filename: 'l.mp4', name: 'lesson', type: 'video' }

    // authentication
    const anon = await tusRequest(`${origin.url}/uploads`, 'POST', { 'Upload-Length': '10' }, undefined, null)
    expect(anon.status).toBe(401)
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('ERR_UNAUTHORIZED')
    const wrong = await tusRequest(
      `${origin.url}/uploads`,
      'POST',
      { 'Upload-Length': '10' },
      undefined,
      'nope',
    )
    expect(wrong.status).toBe(403)

    // metadata is checked at creation
    const unknown = await createUpload(origin.url, 10, { ...meta, colour: 'red' })
    expect(unknown.status).toBe(400)
    expect(await unknown.text()).toContain('colour')
    expect((await createUpload(origin.url, 10, { ...meta, type: 'movie' })).status).toBe(400)
    expect((await createUpload(origin.url, 10, { filename: 'x', type: 'video' })).status).toBe(400)

    // over the maximum size
    expect((await createUpload(origin.url, 5 * MiB, meta)).status).toBe(413)

    // wrong offset
    const created = await createUpload(origin.url, 1000, meta)
    expect(created.status).toBe(201)
    expect(created.headers.get('upload-expires')).not.toBeNull()
    const location = created.headers.get('location')!
    const patch = (offset: number, body: Uint8Array): Promise<Response> =>
      tusRequest(
        location,
        'PATCH',
        { 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' },
        body,
      )
    expect((await patch(0, new Uint8Array(400).fill(1))).status).toBe(204)
    expect((await patch(100, new Uint8Array(10))).status).toBe(409)
    const head = await tusRequest(location, 'HEAD')
    expect(head.headers.get('upload-offset')).toBe('400')

    // disk full: a clear 507, then the upload resumes once space is freed
    free = 0
    const full = await patch(400, new Uint8Array(600).fill(2))
    expect(full.status).toBe(507)
    expect(await full.text()).toContain('ERR_INSUFFICIENT_STORAGE')
    // what an alert compares: the free space the refusal read, and the floor it fell below
    const metrics = await (await fetch(`${origin.url}/metrics`)).text()
    expect(metrics).toMatch(/^dandelion_origin_disk_free_bytes 0$/m)
    expect(metrics).toMatch(new RegExp(`^dandelion_origin_min_free_disk_bytes ${MiB}$`, 'm'))
    free = 10 * MiB
    const done = await patch(400, new Uint8Array(600).fill(2))
    expect(done.status).toBe(204)
    expect(done.headers.get('dandelion-version')).toBe('1')
    const content = await fetch(`${origin.url}/resources/lesson/versions/1/content`)
    const bytes = Buffer.from(await content.arrayBuffer())
    expect(bytes.equals(Buffer.concat([Buffer.alloc(400, 1), Buffer.alloc(600, 2)]))).toBe(true)

    // ids this origin never issued cannot reach the file system
    expect((await tusRequest(`${origin.url}/uploads/..%2F..%2Fetc%2Fpasswd`, 'HEAD')).status).toBe(404)
    expect((await tusRequest(`${origin.url}/uploads/0123456789abcdef0123456789abcdef`, 'HEAD')).status).toBe(
      404,
    )
  })

  it('publishes an upload whose publishing failed when the client resumes it with a HEAD', async () => {
    const origin = await fx.origin()
    const file = await fx.file(MiB + 5)
    failPins(origin, 1)
    let uploadUrl = ''
    const result = await uploadFile(file.path, {
      origin: origin.url,
      token: TOKEN,
      name: 'lesson-flaky',
      type: 'video',
      retryDelays: [0],
      onUploadUrl: (url) => {
        uploadUrl = url
      },
    })
    expect(result.version).toBe(1)
    expect((await downloadByChunks(origin.url, result.manifestCid)).equals(file.bytes)).toBe(true)
    expect((await getJson(`${origin.url}/resources`)).resources).toMatchObject([{ name: 'lesson-flaky' }])
    const id = uploadUrl.split('/').pop()
    expect(await getJson(`${origin.url}/ingests/${id}`)).toMatchObject({ status: 'published' })
  })

  it('keeps publishing an upload whose client gave up, and tells a resumed client its version', async () => {
    // only the origin's sweep runs on the fake clock
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const origin = await fx.origin()
    const file = await fx.file(MiB + 5)
    const stateFile = join(await fx.dir(), 'uploads.json')
    const opts = { origin: origin.url, token: TOKEN, name: 'lesson-3gb', type: 'video' as const, stateFile }
    failPins(origin, 2) // the last PATCH and the HEAD that resumes it
    await expect(uploadFile(file.path, { ...opts, retryDelays: [0] })).rejects.toMatchObject({
      name: 'UploadFailedError',
      status: 423,
      message: expect.stringContaining('injected pin failure'),
    })
    expect((await getJson(`${origin.url}/resources`)).resources).toEqual([])

    const published = nextVersion(origin)
    vi.advanceTimersByTime(EXPIRY_SWEEP_INTERVAL_MS)
    expect(await published).toMatchObject({ name: 'lesson-3gb', version: 1 })
    expect((await getJson(`${origin.url}/resources`)).resources).toMatchObject([{ name: 'lesson-3gb' }])

    // the studio runs its upload again: it learns the version, nothing is sent twice
    const again = await uploadFile(file.path, opts)
    expect(again).toMatchObject({ resumed: true, version: 1, manifestCid: (await published).manifestCid })
    expect((await getJson(`${origin.url}/resources/lesson-3gb/versions`)).versions).toHaveLength(1)
  })

  it('terminates an upload on DELETE (termination extension)', async () => {
    const origin = await fx.origin()
    const opts = await tusRequest(`${origin.url}/uploads`, 'OPTIONS')
    expect(opts.headers.get('tus-extension')).toMatch(/creation.*termination|termination.*creation/)
    expect(opts.headers.get('tus-extension')).toContain('expiration')
    expect(opts.headers.get('tus-extension')).toContain('creation-with-upload')
    const created = await createUpload(origin.url, 100, { name: 'x', type: 'file' })
    const location = created.headers.get('location')!
    expect((await tusRequest(location, 'DELETE')).status).toBe(204)
    expect((await tusRequest(location, 'HEAD')).status).toBe(404)
  })

  it('publishes readable content when another upload of the same bytes is terminated first', async () => {
    const origin = await fx.origin()
    const file = await fx.file(MiB + 5)
    const meta = { name: 'lesson-twice', type: 'video' }
    const first = (await createUpload(origin.url, file.bytes.length, meta)).headers.get('location')!
    const second = (await createUpload(origin.url, file.bytes.length, meta)).headers.get('location')!
    const half = file.bytes.subarray(0, MiB / 2 + 1)
    const body = { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }
    for (const url of [second, first]) expect((await tusRequest(url, 'PATCH', body, half)).status).toBe(204)
    // the studio cancels the first one while the second still uploads: their chunks are the same
    expect((await tusRequest(first, 'DELETE')).status).toBe(204)

    const last = await tusRequest(
      second,
      'PATCH',
      { ...body, 'Upload-Offset': String(half.length) },
      file.bytes.subarray(half.length),
    )
    expect(last.status).toBe(204)
    const manifestCid = last.headers.get('dandelion-manifest')!
    expect((await downloadByChunks(origin.url, manifestCid)).equals(file.bytes)).toBe(true)
  })

  it('ingests a local file only when its checksum matches', async () => {
    const origin = await fx.origin()
    const file = await fx.file(MiB + 123)
    const wrong = 'ab'.repeat(32)
    await expect(
      origin.ingestFile(file.path, { name: 'local', type: 'file', sha256: wrong }),
    ).rejects.toMatchObject({
      name: 'ChecksumMismatchError',
      code: 'ERR_CHECKSUM_MISMATCH',
    })
    expect((await getJson(`${origin.url}/resources`)).resources).toEqual([])
    expect(origin.store.usage().chunks).toBe(0)
    const v = await origin.ingestFile(file.path, { name: 'local', type: 'file', sha256: file.sha256 })
    expect(v.version).toBe(1)
    expect((await downloadByChunks(origin.url, v.manifestCid)).equals(file.bytes)).toBe(true)
  })
})
