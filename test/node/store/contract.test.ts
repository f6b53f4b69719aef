import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { chunkCid } from '../../../node/content/index.ts'
import { ChunkHashMismatchError, ChunkNotFoundError, QuotaExceededError } from '../../../node/errors.ts'
import type { ChunkStoreInit } from '../../../node/store/index.ts'
import { type ChunkStore, FsChunkStore, MemoryChunkStore } from '../../../node/store/index.ts'

const dirs: string[] = []
/** Stores a test made: stopped after it (a store left open closes its files at garbage collection, with a warning). */
const made: ChunkStore[] = []
afterEach(async () => {
  for (const store of made.splice(0)) await store.stop().catch(() => {})
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dandelion-store-'))
  dirs.push(d)
  return d
}

const bytesOf = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)

const tracked = (store: ChunkStore): ChunkStore => {
  made.push(store)
  return store
}

const implementations: Array<[string, (init?: ChunkStoreInit) => Promise<ChunkStore>]> = [
  ['memory', async (init) => tracked(new MemoryChunkStore(init))],
  ['fs+level', async (init) => tracked(new FsChunkStore({ ...init, dir: await tempDir() }))],
  // segments smaller than two chunks: every delete empties or compacts a segment
  [
    'fs+level, tiny segments',
    async (init) => tracked(new FsChunkStore({ ...init, dir: await tempDir(), segmentBytes: 150 })),
  ],
]

describe.each(implementations)('ChunkStore contract: %s', (_name, make) => {
  it('stores verified chunks and reads them back', async () => {
    const store = await make()
    await store.start()
    const data = bytesOf(1000, 7)
    const cid = chunkCid(data)
    await store.put(cid, data)
    expect(await store.has(cid)).toBe(true)
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(bytesOf(1000, 7)))).toBe(true)
    const added = await store.add(bytesOf(10, 1))
    expect(added.toString()).toBe(chunkCid(bytesOf(10, 1)).toString())
    // a digest the caller computed while reading is used as given
    const hashed = bytesOf(20, 3)
    const byDigest = await store.add(hashed, { digest: chunkCid(hashed).multihash.digest })
    expect(byDigest.toString()).toBe(chunkCid(hashed).toString())
    await store.delete(byDigest)
    const listed: string[] = []
    for await (const c of store.list()) listed.push(c.toString())
    expect(listed.sort()).toEqual([cid.toString(), added.toString()].sort())
    expect(store.usage()).toMatchObject({ chunks: 2, bytes: 1010 })
    await store.stop()
  })

  it('refuses bytes that do not match their CID and stores nothing', async () => {
    const store = await make()
    await store.start()
    const cid = chunkCid(bytesOf(100, 1))
    await expect(store.put(cid, bytesOf(100, 2))).rejects.toThrow(ChunkHashMismatchError)
    expect(await store.has(cid)).toBe(false)
    await expect(store.get(cid)).rejects.toThrow(ChunkNotFoundError)
    expect(store.usage().bytes).toBe(0)
  })

  it('enforces the quota, and evicts only unpinned chunks, least recently used first', async () => {
    const store = await make({ quotaBytes: 300 })
    await store.start()
    const a = await store.add(bytesOf(100, 1))
    const b = await store.add(bytesOf(100, 2))
    const c = await store.add(bytesOf(100, 3))
    await expect(store.add(bytesOf(100, 4))).rejects.toThrow(QuotaExceededError)
    await store.pin('lesson', [a])
    await store.get(b) // b is now more recently used than c
    expect(await store.evict(150)).toBe(200)
    expect(await store.has(a)).toBe(true)
    expect(await store.has(b)).toBe(false)
    expect(await store.has(c)).toBe(false)
    expect(await store.delete(a)).toBe(false) // pinned
    await store.unpin('lesson')
    expect(await store.delete(a)).toBe(true)
  })

  it('evicts least recently used unpinned chunks to make room when configured to', async () => {
    const store = await make({ quotaBytes: 200, evictWhenFull: true })
    await store.start()
    const a = await store.add(bytesOf(100, 1))
    const b = await store.add(bytesOf(100, 2))
    await store.pin('keep', [a])
    const c = await store.add(bytesOf(100, 3))
    expect(await store.has(a)).toBe(true)
    expect(await store.has(b)).toBe(false)
    expect(await store.has(c)).toBe(true)
    expect(store.usage()).toMatchObject({ bytes: 200, pinnedBytes: 100 })
    await expect(store.add(bytesOf(300, 9))).rejects.toThrow(QuotaExceededError)
  })

  it('asks its owner to make room when full, one call at a time, and refuses only what still does not fit', async () => {
    let running = 0
    const calls: number[] = []
    let victims: CID[] = []
    const store: ChunkStore = await make({
      quotaBytes: 300,
      makeRoom: async (shortBy) => {
        expect(++running).toBe(1)
        calls.push(shortBy())
        await new Promise((r) => setTimeout(r, 5))
        for (const v of victims.splice(0)) await store.delete(v)
        running--
      },
    })
    await store.start()
    const a = await store.add(bytesOf(100, 1))
    const b = await store.add(bytesOf(100, 2))
    await store.add(bytesOf(100, 3))
    victims = [a, b]
    // two puts at once: the first call frees enough for both, the second put needs no call
    const [d, e] = await Promise.all([store.add(bytesOf(100, 4)), store.add(bytesOf(100, 5))])
    expect(calls).toEqual([100])
    expect([await store.has(a), await store.has(b), await store.has(d), await store.has(e)]).toEqual([
      false,
      false,
      true,
      true,
    ])
    await expect(store.add(bytesOf(100, 6))).rejects.toThrow(QuotaExceededError)
    expect(calls).toEqual([100, 100])
  })

  it("a put of a chunk another caller is writing is not failed by that caller's abort", async () => {
    // two downloads sharing a chunk (two versions of a lesson, or two fetches of one manifest)
    const roomAsked = Promise.withResolvers<void>()
    const roomMade = Promise.withResolvers<void>()
    let filler: CID | undefined
    const store: ChunkStore = await make({
      quotaBytes: 100,
      makeRoom: async () => {
        roomAsked.resolve()
        await roomMade.promise
        if (filler !== undefined) await store.delete(filler)
      },
    })
    await store.start()
    filler = await store.add(bytesOf(100, 1))
    const shared = bytesOf(100, 2)
    const cid = chunkCid(shared)
    const first = new AbortController()
    const givenUp = store.put(cid, shared, { signal: first.signal }).catch((err: Error) => err)
    await roomAsked.promise
    const other = store.put(cid, shared).then(
      () => 'stored',
      (err: Error) => err,
    )
    // the first caller gives up while its owner makes room; the other still wants the chunk
    first.abort()
    roomMade.resolve()
    expect(await givenUp).toMatchObject({ name: 'AbortError' })
    expect(await other).toBe('stored')
    expect(await store.has(cid)).toBe(true)
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(shared))).toBe(true)
    expect(store.usage()).toMatchObject({ chunks: 1, bytes: 100 })
    await store.stop()
  })
})
