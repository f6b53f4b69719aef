/**
 * Uploads an origin before 6914649 left stuck on disk. Its last PATCH failed after the last
 * byte arrived (the free-space check on the last piece, a client gone before the end of
 * the body), and it saved the short last chunk as a tail file instead of storing it: the
 * upload read complete (offset = size) with that chunk in no manifest, so publishing failed
 * for ever (a HEAD answered 423) and its client had no byte left to resend. Upgrading did
 * not repair it. The state is written here as that code wrote it (no `chunkSize` in it).
 */
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as tus from 'tus-js-client'
import { afterEach, describe, expect, it } from 'vitest'
import { Fixture, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const CHUNK = 256 * 1024
/** Two whole chunks and a 10-byte last one. */
const SIZE = 2 * CHUNK + 10
const octets = { 'Content-Type': 'application/offset+octet-stream' }

/**
 * Leaves in `dataDir` the upload of `bytes` that a pre-6914649 origin left stuck: its two
 * whole chunks stored and pinned, the last 10 bytes in `<id>.2.part` and counted in the
 * state. With `tail: false`, that file is gone (the bytes are not all there). Returns the id.
 */
async function stuckUpload(dataDir: string, name: string, bytes: Buffer, tail = true): Promise<string> {
  const old = await fx.origin({ dataDir, chunkSize: CHUNK })
  const created = await tusRequest(`${old.url}/uploads`, 'POST', {
    'Upload-Length': String(SIZE),
    'Upload-Metadata': tusMetadata({ name, type: 'video' }),
  })
  expect(created.status).toBe(201)
  const id = created.headers.get('location')!.split('/').pop()!
  // the whole chunks arrive and are stored as that code stored them
  const sent = await tusRequest(
    `${old.url}/uploads/${id}`,
    'PATCH',
    { ...octets, 'Upload-Offset': '0' },
    bytes.subarray(0, 2 * CHUNK),
  )
  expect(sent.status).toBe(204)
  await old.close()
  // then the last piece, whose PATCH failed after it arrived: kept as the tail, not stored
  const dir = join(dataDir, 'uploads')
  const state = JSON.parse(await readFile(join(dir, `${id}.json`), 'utf8')) as Record<string, unknown>
  delete state.chunkSize
  await writeFile(join(dir, `${id}.json`), JSON.stringify({ ...state, partLength: SIZE - 2 * CHUNK }))
  if (tail) await writeFile(join(dir, `${id}.2.part`), bytes.subarray(2 * CHUNK))
  return id
}

describe('an upload an older origin left complete with its last chunk unstored', () => {
  it('is published when the origin starts, and its client HEAD finds it finished', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(SIZE)
    const id = await stuckUpload(dataDir, 'lesson-stuck', bytes)

    const origin = await fx.origin({ dataDir, chunkSize: CHUNK })
    // published at start, before any client came back
    const content = await fetch(`${origin.url}/resources/lesson-stuck/versions/1/content`)
    expect(content.status).toBe(200)
    expect(Buffer.from(await content.arrayBuffer()).equals(bytes)).toBe(true)
    // the studio's client resumes with a HEAD: finished, with the version it became
    const head = await tusRequest(`${origin.url}/uploads/${id}`, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers.get('upload-offset')).toBe(String(SIZE))
    expect(head.headers.get('upload-length')).toBe(String(SIZE))
    expect(head.headers.get('dandelion-version')).toBe('1')
    // nothing of the upload is left to expire or be published again
    expect((await readdir(join(dataDir, 'uploads'))).filter((n) => n.startsWith(id))).toEqual([])
  })

  it('resumes from its last whole chunk when the tail file no longer holds the last bytes', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(SIZE)
    const id = await stuckUpload(dataDir, 'lesson-lost-tail', bytes, false)

    const origin = await fx.origin({ dataDir, chunkSize: CHUNK })
    // a tus client resuming this upload reads the offset, sends the rest and gets the version
    const done = await new Promise<tus.HttpResponse>((resolve, reject) => {
      new tus.Upload(bytes, {
        uploadUrl: `${origin.url}/uploads/${id}`,
        headers: { Authorization: `Bearer ${TOKEN}` },
        retryDelays: [],
        onProgress: (sent) => {
          // the whole chunks were kept: only the last bytes travel again
          if (sent > 0 && sent < 2 * CHUNK) reject(new Error(`resent from byte ${sent}`))
        },
        onSuccess: ({ lastResponse }) => resolve(lastResponse),
        onError: reject,
      }).start()
    })
    expect(done.getHeader('Dandelion-Version')).toBe('1')
    const content = await fetch(`${origin.url}/resources/lesson-lost-tail/versions/1/content`)
    expect(Buffer.from(await content.arrayBuffer()).equals(bytes)).toBe(true)
  })
})
