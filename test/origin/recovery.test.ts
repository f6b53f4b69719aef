import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Readable } from 'node:stream'
import { Upload } from '@tus/utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FsChunkStore, MemoryChunkStore } from '../../node/store/index.ts'
import { ChunkingDataStore } from '../../origin/chunking-store.ts'
import { uploadFile } from '../../origin/client.ts'
import { downloadByChunks, Fixture, getJson, MiB, TOKEN } from './utils.ts'

const fx = new Fixture()
const children: ChildProcess[] = []
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL')
  await fx.cleanup()
})

/** Starts an origin in a child process on `port` (0 = any); resolves with its URL. */
async function startOrigin(dataDir: string, port = 0): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [new URL('./fixtures/origin-process.ts', import.meta.url).pathname, dataDir, String(port)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  children.push(child)
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string]
  return { url: (JSON.parse(line) as { url: string }).url, child }
}

describe('origin crashes', () => {
  it('keeps what a killed origin had stored of an upload; the client resumes and publishes once', async () => {
    const dataDir = await fx.dir()
    const file = await fx.file(160 * MiB)
    const stateFile = join(await fx.dir(), 'uploads.json')
    const first = await startOrigin(dataDir)
    const port = Number(new URL(first.url).port)
    const opts = { origin: first.url, token: TOKEN, name: 'lesson-big', type: 'video' as const, stateFile }

    // one big PATCH; the origin is SIGKILLed when the client has sent more than half
    const interrupted = uploadFile(file.path, {
      ...opts,
      chunkSize: 512 * MiB,
      retryDelays: [],
      onProgress: (sent, total) => {
        if (sent > total / 2 && first.child.exitCode === null) first.child.kill('SIGKILL')
      },
    })
    await expect(interrupted).rejects.toThrow()

    const second = await startOrigin(dataDir, port)
    let resumedAt = -1
    const result = await uploadFile(file.path, {
      ...opts,
      origin: second.url,
      onProgress: (sent) => {
        if (resumedAt < 0) resumedAt = sent
      },
    })
    expect(result.resumed).toBe(true)
    // progress checkpointed during the killed PATCH survived the crash
    expect(resumedAt).toBeGreaterThanOrEqual(32 * MiB)
    expect(result.version).toBe(1)
    expect((await downloadByChunks(second.url, result.manifestCid)).equals(file.bytes)).toBe(true)
    expect((await getJson(`${second.url}/resources/lesson-big/versions`)).versions).toHaveLength(1)
  })

  it('publishes, at the next start, an upload that was complete but not yet published', async () => {
    const dataDir = await fx.dir()
    const file = await fx.file(3 * MiB + 7)
    // the state a crash between the last byte and the catalog commit leaves behind
    const store = new FsChunkStore({ dir: join(dataDir, 'store') })
    await store.start()
    const uploads = new ChunkingDataStore(
      { store },
      { dir: join(dataDir, 'uploads'), chunkSize: 256 * 1024, window: 4, expiryMs: 0 },
    )
    await mkdir(join(dataDir, 'uploads'), { recursive: true })
    const id = '0123456789abcdef0123456789abcdef'
    const metadata = { name: 'lesson-small', type: 'video' }
    await uploads.create(new Upload({ id, size: file.bytes.length, offset: 0, metadata }))
    await uploads.write(Readable.from([file.bytes.subarray(0, MiB)]), id, 0)
    await uploads.write(Readable.from([file.bytes.subarray(MiB)]), id, MiB)
    expect((await uploads.getUpload(id)).offset).toBe(file.bytes.length)
    await store.stop()

    const origin = await startOrigin(dataDir)
    const versions = await getJson(`${origin.url}/resources/lesson-small/versions`)
    expect(versions.versions).toHaveLength(1)
    expect((await downloadByChunks(origin.url, versions.versions[0].manifestCid)).equals(file.bytes)).toBe(
      true,
    )
    expect((await getJson(`${origin.url}/ingests/${id}`)).status).toBe('published')
  })

  it('resumes a tail chunk split across PATCH requests at any offset', async () => {
    const store = new MemoryChunkStore()
    await store.start()
    const dir = await fx.dir()
    const uploads = new ChunkingDataStore({ store }, { dir, chunkSize: 256 * 1024, window: 2, expiryMs: 0 })
    const file = await fx.file(MiB + 100)
    const id = 'ffffffffffffffffffffffffffffffff'
    await uploads.create(new Upload({ id, size: file.bytes.length, offset: 0 }))
    let offset = 0
    for (const cut of [1, 1000, 300_000, 700_000, file.bytes.length]) {
      offset = await uploads.write(Readable.from([file.bytes.subarray(offset, cut)]), id, offset)
      expect(offset).toBe(cut)
    }
    const { chunks } = await uploads.chunksOf(id)
    const parts = await Promise.all(chunks.map((c) => store.get(c)))
    expect(Buffer.concat(parts).equals(file.bytes)).toBe(true)
  })

  it('sweeps expired unfinished uploads and their chunks, but keeps recent and finished ones', async () => {
    const store = new MemoryChunkStore()
    await store.start()
    const dir = await fx.dir()
    const uploads = new ChunkingDataStore(
      { store },
      { dir, chunkSize: 256 * 1024, window: 2, expiryMs: 60_000 },
    )
    const file = await fx.file(300 * 1024)
    const stale = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
    const fresh = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'
    const done = 'cccccccccccccccccccccccccccccccc'
    // `stale` and `done` last made progress two minutes ago (Date only is moved back)
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Date.now() - 120_000)
    try {
      await uploads.create(new Upload({ id: stale, size: file.bytes.length, offset: 0 }))
      await uploads.write(Readable.from([file.bytes.subarray(0, 256 * 1024 + 10)]), stale, 0)
      await uploads.create(new Upload({ id: done, size: 10, offset: 0 }))
      await uploads.write(Readable.from([file.bytes.subarray(0, 10)]), done, 0)
    } finally {
      vi.useRealTimers()
    }
    await uploads.create(new Upload({ id: fresh, size: file.bytes.length, offset: 0 }))
    expect(store.usage().chunks).toBe(2)

    expect(await uploads.deleteExpired()).toBe(1)
    await expect(uploads.getUpload(stale)).rejects.toMatchObject({ status_code: 404 })
    expect((await uploads.getUpload(fresh)).offset).toBe(0)
    expect((await uploads.getUpload(done)).offset).toBe(10)
    // the expired upload's stored chunk is gone; the finished one's is kept
    expect(store.usage().chunks).toBe(1)
  })
})
