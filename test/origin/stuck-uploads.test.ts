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
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FsChunkStore } from '../../node/store/index.ts'
import { EXPIRY_SWEEP_INTERVAL_MS } from '../../origin/constants.ts'
import type { Origin, PublishedVersion } from '../../origin/index.ts'
import { Fixture, MiB, TOKEN, tusMetadata, tusRequest } from './utils.ts'

const fx = new Fixture()
afterEach(async () => {
  vi.useRealTimers()
  vi.restoreAllMocks()
  await fx.cleanup()
})

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

/**
 * Fills the disk under the chunk store's index as far as upload pins go: each one fails with
 * LevelDB's error on a full disk, from the origin's start on, until `room()` is called.
 */
function fillDisk(): { room(): void } {
  let full = true
  const pin = FsChunkStore.prototype.pin
  vi.spyOn(FsChunkStore.prototype, 'pin').mockImplementation(async function (this: FsChunkStore, ...args) {
    if (full && args[0].startsWith('upload:'))
      throw Object.assign(new Error('IO error: index/000003.log: No space left on device'), {
        code: 'LEVEL_IO_ERROR',
      })
    return await pin.apply(this, args)
  })
  return {
    room: () => {
      full = false
    },
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

async function content(url: string, name: string): Promise<Response> {
  return await fetch(`${url}/resources/${name}/versions/1/content`)
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

  it('is published by the periodic sweep when storing its last chunk failed at start, without a restart', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(SIZE)
    const id = await stuckUpload(dataDir, 'lesson-disk-full', bytes)
    // the disk is full when the new origin starts: storing the last chunk fails
    const disk = fillDisk()
    // only the origin's sweep runs on the fake clock
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const origin = await fx.origin({ dataDir, chunkSize: CHUNK })
    expect((await content(origin.url, 'lesson-disk-full')).status).toBe(404)

    // the operator frees space; the next sweep finishes the upload, no restart needed
    disk.room()
    const published = nextVersion(origin)
    vi.advanceTimersByTime(EXPIRY_SWEEP_INTERVAL_MS)
    expect(await published).toMatchObject({ name: 'lesson-disk-full', version: 1, size: SIZE })
    const res = await content(origin.url, 'lesson-disk-full')
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
    const head = await tusRequest(`${origin.url}/uploads/${id}`, 'HEAD')
    expect(head.headers.get('dandelion-version')).toBe('1')
  })

  it("is published at its client's HEAD once the disk has room again", async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(SIZE)
    const id = await stuckUpload(dataDir, 'lesson-head', bytes)
    const disk = fillDisk()
    const origin = await fx.origin({ dataDir, chunkSize: CHUNK })
    // still full: the client is told to ask again, not to upload again
    const locked = await tusRequest(`${origin.url}/uploads/${id}`, 'HEAD')
    expect(locked.status).toBe(423)
    expect(decodeURIComponent(locked.headers.get('dandelion-error')!)).toMatch(/no space left/i)

    disk.room()
    const head = await tusRequest(`${origin.url}/uploads/${id}`, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.headers.get('upload-offset')).toBe(String(SIZE))
    expect(head.headers.get('dandelion-version')).toBe('1')
    const res = await content(origin.url, 'lesson-head')
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
  })

  it('is published whole when the origin restarts with another chunk size', async () => {
    const dataDir = await fx.dir()
    const { bytes } = await fx.file(SIZE)
    const id = await stuckUpload(dataDir, 'lesson-resized-stuck', bytes)
    // its state does not say it was cut in 256 KiB chunks; the origin now cuts 1 MiB ones
    const origin = await fx.origin({ dataDir, chunkSize: MiB })
    const res = await content(origin.url, 'lesson-resized-stuck')
    expect(res.status).toBe(200)
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
    const head = await tusRequest(`${origin.url}/uploads/${id}`, 'HEAD')
    expect(head.headers.get('upload-offset')).toBe(String(SIZE))
    expect(head.headers.get('dandelion-version')).toBe('1')
  })
})
