/**
 * Uploads an origin made before each upload's state recorded its chunk size. Such a state
 * counts chunks and a tail but says nothing of their size, so an origin restarted with
 * another `--chunk-size` read its offset in the new size: too high, the client skipped bytes
 * and a wrong manifest could be published. The states are written here as that code wrote
 * them (no `chunkSize`), as in `stuck-uploads.test.ts`.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Upload } from '@tus/utils'
import * as tus from 'tus-js-client'
import { afterEach, describe, expect, it } from 'vitest'
import { FsChunkStore } from '../../node/store/index.ts'
import { ChunkingDataStore } from '../../origin/chunking-store.ts'
import { Fixture, MiB, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const KiB = 1024
const octets = { 'Content-Type': 'application/offset+octet-stream' }

/** Rewrites upload `id`'s state as an origin before chunk sizes were recorded wrote it. */
async function asOldState(dataDir: string, id: string, change: Record<string, unknown> = {}): Promise<void> {
  const path = join(dataDir, 'uploads', `${id}.json`)
  const state = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>
  delete state.chunkSize
  await writeFile(path, JSON.stringify({ ...state, ...change }))
}

async function stateOf(dataDir: string, id: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(dataDir, 'uploads', `${id}.json`), 'utf8')) as Record<string, unknown>
}

/**
 * Starts an upload of `bytes` at an origin cutting `chunkSize` chunks, sends the first `sent`
 * of them and leaves its state as the older code wrote it; returns its id.
 */
async function oldUpload(
  dataDir: string,
  name: string,
  bytes: Buffer,
  sent: number,
  chunkSize = 256 * KiB,
): Promise<string> {
  const old = await fx.origin({ dataDir, chunkSize })
  const created = await tusRequest(`${old.url}/uploads`, 'POST', {
    'Upload-Length': String(bytes.length),
    'Upload-Metadata': tusMetadata({ name, type: 'video' }),
  })
  expect(created.status).toBe(201)
  const id = created.headers.get('location')!.split('/').pop()!
  const patched = await tusRequest(
    `${old.url}/uploads/${id}`,
    'PATCH',
    { ...octets, 'Upload-Offset': '0' },
    bytes.subarray(0, sent),
  )
  expect(patched.status).toBe(204)
  await old.close()
  await asOldState(dataDir, id)
  return id
}

describe('uploads whose state records no chunk size', () => {
  it('resume whole after a restart with another chunk size, which is recorded from then on', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(3 * MiB + 100)
    const sent = 600 * KiB // two whole 256 KiB chunks and a tail
    const id = await oldUpload(dataDir, 'lesson-old', bytes, sent)

    // the operator restarts the origin with bigger chunks while the studio's upload is unfinished
    const origin = await fx.origin({ dataDir, chunkSize: MiB })
    const location = `${origin.url}/uploads/${id}`
    const offset = Number((await tusRequest(location, 'HEAD')).headers.get('upload-offset'))
    // never past what was sent: the client would skip the bytes in between
    expect(offset).toBe(sent)
    const more = MiB
    const part = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': String(offset) },
      bytes.subarray(offset, offset + more),
    )
    expect(part.status).toBe(204)
    expect(part.headers.get('upload-offset')).toBe(String(offset + more))
    // the state says how it is cut now: a later restart reads it without asking the store
    expect(await stateOf(dataDir, id)).toMatchObject({ chunkSize: 256 * KiB })
    const done = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': String(offset + more) },
      bytes.subarray(offset + more),
    )
    expect(done.status).toBe(204)
    expect(done.headers.get('dandelion-version')).toBe('1')
    const res = await fetch(`${origin.url}/resources/lesson-old/versions/1/content`)
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
  })

  it('publish at the next start when complete but not yet published, whatever the chunk size now', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(600 * KiB)
    // The states a crash between the last byte and the catalog commit left, of the same bytes:
    // in 256 KiB chunks (three of them) and in 1 MiB ones (one, shorter). Read in 512 KiB
    // chunks, neither adds up.
    const store = new FsChunkStore({ dir: join(dataDir, 'store') })
    await store.start()
    await mkdir(join(dataDir, 'uploads'))
    const uploads = { 'lesson-small-chunks': 256 * KiB, 'lesson-one-chunk': MiB }
    for (const [i, [name, chunkSize]] of Object.entries(uploads).entries()) {
      const dir = join(dataDir, 'uploads')
      const datastore = new ChunkingDataStore({ store }, { dir, chunkSize, window: 2, expiryMs: 0 })
      const id = String(i).repeat(32)
      await datastore.create(
        new Upload({ id, size: bytes.length, offset: 0, metadata: { name, type: 'video' } }),
      )
      expect(await datastore.write(Readable.from([bytes]), id, 0)).toBe(bytes.length)
      await asOldState(dataDir, id)
    }
    await store.stop()

    const origin = await fx.origin({ dataDir, chunkSize: 512 * KiB })
    for (const name of Object.keys(uploads)) {
      const res = await fetch(`${origin.url}/resources/${name}/versions/1/content`)
      expect(res.status).toBe(200)
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
    }
  })

  it('resume one with no whole chunk yet after a restart with smaller chunks', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(2 * MiB)
    // 600 KiB sent to an origin cutting 1 MiB chunks: all of it in the tail file
    const id = await oldUpload(dataDir, 'lesson-tail-only', bytes, 600 * KiB, MiB)

    const origin = await fx.origin({ dataDir, chunkSize: 256 * KiB })
    const location = `${origin.url}/uploads/${id}`
    const offset = Number((await tusRequest(location, 'HEAD')).headers.get('upload-offset'))
    expect(offset).toBe(600 * KiB)
    const done = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': String(offset) },
      bytes.subarray(offset),
    )
    expect(done.status).toBe(204)
    expect(done.headers.get('dandelion-version')).toBe('1')
    const res = await fetch(`${origin.url}/resources/lesson-tail-only/versions/1/content`)
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
  })

  it('refuse one whose state does not add up with a 410 its client starts over from', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(MiB)
    // a tail longer than a chunk: no chunk size explains this state
    const id = await oldUpload(dataDir, 'lesson-garbled', bytes, 600 * KiB)
    await asOldState(dataDir, id, { partLength: 300 * KiB })

    const origin = await fx.origin({ dataDir, chunkSize: MiB })
    const location = `${origin.url}/uploads/${id}`
    // no offset is given out for it: a tus client takes a 4xx on its HEAD to start over
    const head = await tusRequest(location, 'HEAD')
    expect(head.status).toBe(410)
    expect(head.headers.get('upload-offset')).toBeNull()
    const patch = await tusRequest(
      location,
      'PATCH',
      { ...octets, 'Upload-Offset': String(600 * KiB) },
      bytes.subarray(0, 10),
    )
    expect(patch.status).toBe(410)
    const { error } = (await patch.json()) as { error: { code: string; message: string } }
    expect(error.code).toBe('ERR_UPLOAD_NOT_RESUMABLE')
    expect(error.message).toMatch(/start (the upload )?over/)

    // a tus client resuming it creates a new upload, which is published whole
    const done = await new Promise<tus.HttpResponse>((resolve, reject) => {
      new tus.Upload(bytes, {
        endpoint: `${origin.url}/uploads`,
        uploadUrl: location,
        headers: { Authorization: `Bearer ${TOKEN}` },
        metadata: { name: 'lesson-garbled', type: 'video' },
        retryDelays: [],
        onSuccess: ({ lastResponse }) => resolve(lastResponse),
        onError: reject,
      }).start()
    })
    expect(done.getHeader('Dandelion-Version')).toBe('1')
    const res = await fetch(`${origin.url}/resources/lesson-garbled/versions/1/content`)
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
    // and the old one can still be terminated
    expect((await tusRequest(location, 'DELETE')).status).toBe(204)
  })
})
