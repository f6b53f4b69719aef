import { afterEach, describe, expect, it } from 'vitest'
import { DISK_CHECK_INTERVAL_BYTES } from '../../origin/constants.ts'
import { downloadByChunks, Fixture, MiB, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const octets = { 'Content-Type': 'application/offset+octet-stream' }

/** Creates an empty upload of a video named `name`; returns its URL. */
async function createVideoUpload(originUrl: string, name: string, size: number): Promise<string> {
  const created = await tusRequest(`${originUrl}/uploads`, 'POST', {
    'Upload-Length': String(size),
    'Upload-Metadata': tusMetadata({ name, type: 'video' }),
  })
  expect(created.status).toBe(201)
  return created.headers.get('location')!
}

/** PATCHes `pieces` at `offset` as a chunked body, one piece after the other. */
async function patchPieces(location: string, offset: number, pieces: Uint8Array[]): Promise<Response> {
  let next = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (next < pieces.length) controller.enqueue(pieces[next++])
      else controller.close()
    },
  })
  return await fetch(location, {
    method: 'PATCH',
    headers: {
      'Tus-Resumable': '1.0.0',
      Authorization: `Bearer ${TOKEN}`,
      ...octets,
      'Upload-Offset': String(offset),
    },
    body,
    duplex: 'half',
  } as RequestInit)
}

describe('origin uploads: what a failed request leaves behind', () => {
  it('publishes an upload whose last PATCH failed after its last byte arrived, last short chunk included', async () => {
    // the disk fills once the PATCH has stored something: its first check (before the body)
    // passes, the next one fails
    let filling = true
    const origin = await fx.origin({
      minFreeDiskBytes: MiB,
      freeDiskBytes: async () => (filling && origin.store.usage().bytes > 0 ? 0 : 100 * MiB),
    })
    // chunks of 256 KiB: the file ends in a 10-byte chunk
    const file = await fx.file(DISK_CHECK_INTERVAL_BYTES + 10)
    const location = await createVideoUpload(origin.url, 'lesson-tail', file.bytes.length)
    // The free-space check of a PATCH body runs every 8 MiB: sent apart, the last piece is the
    // one that crosses that mark. Every byte is there, yet the PATCH fails.
    const cut = DISK_CHECK_INTERVAL_BYTES - 1
    const res = await patchPieces(location, 0, [file.bytes.subarray(0, cut), file.bytes.subarray(cut)])
    expect(res.status).toBe(507)
    filling = false

    // the client resumes with a HEAD: all bytes arrived, so the upload is published now
    const head = await tusRequest(location, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers.get('upload-offset')).toBe(String(file.bytes.length))
    expect(head.headers.get('dandelion-version')).toBe('1')
    const content = await fetch(`${origin.url}/resources/lesson-tail/versions/1/content`)
    expect(content.status).toBe(200)
    expect(Buffer.from(await content.arrayBuffer()).equals(file.bytes)).toBe(true)
  })

  it('resumes and publishes an unfinished upload whole after a restart with another chunk size', async () => {
    const dataDir = await fx.dir()
    const file = await fx.file(3 * MiB + 100)
    const first = await fx.origin({ dataDir, chunkSize: 256 * 1024 })
    const id = (await createVideoUpload(first.url, 'lesson-resized', file.bytes.length)).split('/').pop()!
    const sent = 600 * 1024 // two whole 256 KiB chunks and a tail
    const patched = await tusRequest(
      `${first.url}/uploads/${id}`,
      'PATCH',
      { ...octets, 'Upload-Offset': '0' },
      file.bytes.subarray(0, sent),
    )
    expect(patched.status).toBe(204)
    await first.close()

    // the operator restarts the origin with bigger chunks while the studio's upload is unfinished
    const second = await fx.origin({ dataDir, chunkSize: MiB })
    const location = `${second.url}/uploads/${id}`
    const offset = Number((await tusRequest(location, 'HEAD')).headers.get('upload-offset'))
    // the offset after a restart may be lower than what was sent, never higher
    expect(offset).toBeLessThanOrEqual(sent)
    const done = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': String(offset) },
      file.bytes.subarray(offset),
    )
    expect(done.status).toBe(204)
    const manifestCid = done.headers.get('dandelion-manifest')!
    expect((await downloadByChunks(second.url, manifestCid)).equals(file.bytes)).toBe(true)
    const content = await fetch(`${second.url}/resources/lesson-resized/versions/1/content`)
    expect(Buffer.from(await content.arrayBuffer()).equals(file.bytes)).toBe(true)
  })

  it('stops while clients are stalled mid-upload and mid-download, keeping what the upload sent for the resume', async () => {
    const dataDir = await fx.dir()
    const file = await fx.file(2 * MiB)
    const first = await fx.origin({ dataDir })
    const location = await createVideoUpload(first.url, 'lesson-stalled', file.bytes.length)
    const id = location.split('/').pop()!
    // the server has cut the first 1 MiB into chunks once it stored four of them
    let stored = 0
    const add = first.store.add.bind(first.store)
    const fourStored = new Promise<void>((resolve) => {
      first.store.add = async (...args) => {
        const cid = await add(...args)
        if (++stored === 4) resolve()
        return cid
      }
    })
    // a lamp on a bad link: 1 MiB, then nothing more, connection open
    const client = new AbortController()
    let sent = false
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (sent) return await new Promise<void>(() => {})
        sent = true
        controller.enqueue(file.bytes.subarray(0, MiB))
      },
    })
    // and a device that stopped reading a lesson it is downloading
    const lesson = await fx.file(32 * MiB)
    await first.ingestFile(lesson.path, { name: 'lesson-download', type: 'video' })
    const download = await fetch(`${first.url}/resources/lesson-download/versions/1/content`, {
      signal: client.signal,
    })
    expect(download.status).toBe(200)
    const stalled = fetch(location, {
      method: 'PATCH',
      headers: {
        'Tus-Resumable': '1.0.0',
        Authorization: `Bearer ${TOKEN}`,
        ...octets,
        'Upload-Offset': '0',
      },
      body,
      duplex: 'half',
      signal: client.signal,
    } as RequestInit).catch((err: Error) => err)
    try {
      await fourStored
      // SIGTERM: the origin stops rather than waiting for a client that may never send again
      const closed = await Promise.race([
        first.close().then(() => 'closed'),
        new Promise((resolve) => setTimeout(resolve, 20_000, 'still running')),
      ])
      expect(closed).toBe('closed')
    } finally {
      client.abort()
      await stalled
    }

    // what arrived before the stop was kept: the client resumes from there
    const second = await fx.origin({ dataDir })
    const head = await tusRequest(`${second.url}/uploads/${id}`, 'HEAD')
    expect(head.status).toBe(200)
    const offset = Number(head.headers.get('upload-offset'))
    expect(offset).toBe(MiB)
    const done = await tusRequest(
      `${second.url}/uploads/${id}`,
      'PATCH',
      { ...octets, 'Upload-Offset': String(offset) },
      file.bytes.subarray(offset),
    )
    expect(done.status).toBe(204)
    const content = await fetch(`${second.url}/resources/lesson-stalled/versions/1/content`)
    expect(Buffer.from(await content.arrayBuffer()).equals(file.bytes)).toBe(true)
  })
})
