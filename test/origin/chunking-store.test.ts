import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Upload } from '@tus/utils'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryChunkStore } from '../../node/store/index.ts'
import { Catalog } from '../../origin/catalog.ts'
import { ChunkingDataStore } from '../../origin/chunking-store.ts'
import { publish } from '../../origin/ingest.ts'
import { Fixture } from './utils.ts'

const fx = new Fixture()
afterEach(() => fx.cleanup())

const chunkSize = 256 * 1024
const A = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
const B = 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb'

async function setup(expiryMs = 0) {
  const store = new MemoryChunkStore()
  await store.start()
  const dir = await fx.dir()
  const init = { dir, chunkSize, window: 2, expiryMs }
  return { store, dir, init, uploads: new ChunkingDataStore({ store }, init) }
}

/** Sends `bytes` from `offset` in one PATCH body; returns the new offset. */
async function patch(
  uploads: ChunkingDataStore,
  id: string,
  bytes: Uint8Array,
  offset: number,
): Promise<number> {
  return await uploads.write(Readable.from([bytes]), id, offset)
}

/** Publishes a complete upload as the origin does and reads the version's content back. */
async function publishAndRead(
  store: MemoryChunkStore,
  uploads: ChunkingDataStore,
  id: string,
): Promise<Buffer> {
  const catalog = new Catalog(join(await fx.dir(), 'catalog'))
  await catalog.open()
  try {
    const { chunks, size } = await uploads.chunksOf(id)
    const { manifest } = await publish(
      { store, catalog, privateKey: await generateKeyPair('Ed25519') },
      { chunks, size, chunkSize },
      { name: 'lesson', type: 'video', mime: 'video/mp4' },
      { uploadId: id },
    )
    await uploads.forget(id)
    return Buffer.concat(await Promise.all(manifest.chunks.map((c) => store.get(c))))
  } finally {
    await catalog.close()
  }
}

describe('ChunkingDataStore', () => {
  it('keeps the chunks an unfinished upload shares with a terminated one, and publishes it whole', async () => {
    const { store, uploads } = await setup()
    const file = await fx.file(3 * chunkSize + 100)
    for (const id of [A, B]) await uploads.create(new Upload({ id, size: file.bytes.length, offset: 0 }))
    // both have the first two chunks of the same bytes; A is terminated (tus DELETE)
    const sent = await patch(uploads, B, file.bytes.subarray(0, 2 * chunkSize + 10), 0)
    await patch(uploads, A, file.bytes.subarray(0, 2 * chunkSize + 10), 0)
    await uploads.remove(A)

    expect((await uploads.getUpload(B)).offset).toBe(sent)
    expect(await patch(uploads, B, file.bytes.subarray(sent), sent)).toBe(file.bytes.length)
    expect((await publishAndRead(store, uploads, B)).equals(file.bytes)).toBe(true)
    // the version holds the chunks now; the upload's pins are gone with it
    expect(store.pins().filter((p) => p.startsWith('upload:'))).toEqual([])
  })

  it('keeps shared chunks when an expired upload is swept while another is unfinished', async () => {
    const { store, init } = await setup(60_000)
    const uploads = new ChunkingDataStore({ store }, init)
    const file = await fx.file(2 * chunkSize + 7)
    // A made its last progress two minutes ago (expiry counts from it), B just now
    await twoMinutesAgo(async () => {
      await uploads.create(new Upload({ id: A, size: file.bytes.length, offset: 0 }))
      await patch(uploads, A, file.bytes.subarray(0, chunkSize + 1), 0)
    })
    await uploads.create(new Upload({ id: B, size: file.bytes.length, offset: 0 }))
    const sent = await patch(uploads, B, file.bytes.subarray(0, chunkSize + 1), 0)

    expect(await uploads.deleteExpired()).toBe(1)
    await expect(uploads.getUpload(A)).rejects.toMatchObject({ status_code: 404 })
    expect(await patch(uploads, B, file.bytes.subarray(sent), sent)).toBe(file.bytes.length)
    expect((await publishAndRead(store, uploads, B)).equals(file.bytes)).toBe(true)
  })

  it('keeps an upload created long ago that is still making progress: expiry counts from its last PATCH', async () => {
    const { store, init } = await setup(60_000)
    const uploads = new ChunkingDataStore({ store }, init)
    const file = await fx.file(3 * chunkSize)
    // a slow link: created two minutes ago, a first part then, and another part now
    await twoMinutesAgo(async () => {
      await uploads.create(new Upload({ id: A, size: file.bytes.length, offset: 0 }))
      await patch(uploads, A, file.bytes.subarray(0, chunkSize), 0)
    })
    expect(await patch(uploads, A, file.bytes.subarray(chunkSize, 2 * chunkSize), chunkSize)).toBe(
      2 * chunkSize,
    )
    expect(await uploads.deleteExpired()).toBe(0)
    expect(await patch(uploads, A, file.bytes.subarray(2 * chunkSize), 2 * chunkSize)).toBe(file.bytes.length)
    expect((await publishAndRead(store, uploads, A)).equals(file.bytes)).toBe(true)
  })

  it('pins chunks before the state file lists them, with few pins for many PATCHes', async () => {
    const { store, dir, uploads } = await setup()
    const file = await fx.file(40 * chunkSize)
    await uploads.create(new Upload({ id: B, size: file.bytes.length, offset: 0 }))
    const pin = store.pin.bind(store)
    const pinned = new Set<string>()
    const listedBeforePinned: string[] = []
    store.pin = async (key, cids, options) => {
      const state = JSON.parse(await readFile(join(dir, `${B}.json`), 'utf8')) as { chunks: string[] }
      for (const c of cids.map(String)) {
        if (!pinned.has(c) && state.chunks.includes(c)) listedBeforePinned.push(c)
        pinned.add(c)
      }
      return await pin(key, cids, options)
    }
    // one chunk per PATCH, as a client with a small chunk size sends them
    for (let offset = 0; offset < file.bytes.length; offset += chunkSize) {
      await patch(uploads, B, file.bytes.subarray(offset, offset + chunkSize), offset)
    }
    // a chunk is never listed before its pin is written: a power cut in between cannot
    // keep the state and lose the chunk's index entry, which the (synced) pin flushes
    const { chunks } = await uploads.chunksOf(B)
    expect(chunks.every((c) => store.isPinned(c))).toBe(true)
    expect(listedBeforePinned).toEqual([])
    expect(store.pins().filter((p) => p.startsWith('upload:')).length).toBeLessThanOrEqual(6)
  })

  it('resumes before a chunk the store lost, as after a power cut, and never publishes without it', async () => {
    const { store, init, uploads } = await setup()
    const file = await fx.file(3 * chunkSize)
    await uploads.create(new Upload({ id: B, size: file.bytes.length, offset: 0 }))
    expect(await patch(uploads, B, file.bytes, 0)).toBe(file.bytes.length)
    const { chunks } = await uploads.chunksOf(B)
    // the state file survived, the second chunk's index entry did not
    await store.delete(chunks[1], { force: true })

    const restarted = new ChunkingDataStore({ store }, init)
    await expect(restarted.chunksOf(B)).rejects.toMatchObject({ name: 'MissingChunksError' })
    expect(await restarted.completeUploads()).toEqual([])
    expect((await restarted.getUpload(B)).offset).toBe(chunkSize)
    // the client resends from there
    expect(await patch(restarted, B, file.bytes.subarray(chunkSize), chunkSize)).toBe(file.bytes.length)
    expect((await publishAndRead(store, restarted, B)).equals(file.bytes)).toBe(true)
  })
})

/** Runs `fn` with the clock (Date only; timers and I/O are real) two minutes behind. */
async function twoMinutesAgo(fn: () => Promise<void>): Promise<void> {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(Date.now() - 120_000)
  try {
    await fn()
  } finally {
    vi.useRealTimers()
  }
}
