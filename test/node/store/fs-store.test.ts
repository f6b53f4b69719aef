import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeSync } from 'node:fs'
import { mkdir, mkdtemp, open, readdir, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Level } from 'level'
import { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { blake3, chunkCid, HashPool } from '../../../node/content/index.ts'
import { QuotaExceededError, StoreStoppedError } from '../../../node/errors.ts'
import { FsChunkStore } from '../../../node/store/index.ts'
import { type Location, Segments } from '../../../node/store/segments.ts'

const dirs: string[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dandelion-fs-store-'))
  dirs.push(d)
  return d
}

const bytesOf = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
const segmentFiles = async (dir: string): Promise<string[]> => (await readdir(join(dir, 'segments'))).sort()

describe('FsChunkStore', () => {
  it('keeps chunks and pins across restarts, and repairs what a crash left behind', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const a = await store.add(bytesOf(1000, 1))
    const b = await store.add(bytesOf(1000, 2))
    await store.pin('lesson', [a])
    const where = store.locate(b)!
    await store.stop()

    // b's bytes never reached the disk (a power cut without fsync): its entry must go
    await truncate(where.path, where.offset + 10)
    // a crash between writing a chunk and indexing it leaves a complete chunk behind its
    // write intent; a crash mid-write leaves bytes that do not verify
    const orphan = chunkCid(bytesOf(500, 5))
    const torn = chunkCid(bytesOf(500, 6))
    await writeFile(join(dir, 'segments', '9.seg'), Buffer.concat([bytesOf(500, 5), bytesOf(300, 6)]))
    const index = new Level<string, string>(join(dir, 'index'))
    await index.batch([
      { type: 'put', key: `w!${orphan.toString()}`, value: '9:0:500' },
      { type: 'put', key: `w!${torn.toString()}`, value: '9:500:500' },
    ])
    await index.close()

    const again = new FsChunkStore({ dir })
    await again.start()
    expect(await again.has(a)).toBe(true)
    expect(again.isPinned(a)).toBe(true)
    expect(Buffer.from(await again.get(a)).equals(Buffer.from(bytesOf(1000, 1)))).toBe(true)
    expect(await again.has(b)).toBe(false)
    expect(await again.has(orphan)).toBe(true)
    expect(Buffer.from(await again.get(orphan)).equals(Buffer.from(bytesOf(500, 5)))).toBe(true)
    expect(await again.has(torn)).toBe(false)
    expect(again.usage()).toMatchObject({ chunks: 2, bytes: 1500 })
    await again.stop()
  })

  it('moves the chunk files of the first layout into segments, keeping pins and dropping corrupt files', async () => {
    const dir = await tempDir()
    // what the first layout left: chunks/<last two chars>/<cid>, sizes and pins in the index
    const a = chunkCid(bytesOf(700, 1))
    const b = chunkCid(bytesOf(700, 2))
    const place = async (cid: CID, bytes: Uint8Array): Promise<void> => {
      const key = cid.toString()
      await mkdir(join(dir, 'chunks', key.slice(-2)), { recursive: true })
      await writeFile(join(dir, 'chunks', key.slice(-2), key), bytes)
    }
    await place(a, bytesOf(700, 1))
    await place(b, bytesOf(700, 3)) // corrupt
    const index = new Level<string, string>(join(dir, 'index'))
    await index.batch([
      { type: 'put', key: `c!${a.toString()}`, value: '700' },
      { type: 'put', key: `c!${b.toString()}`, value: '700' },
      { type: 'put', key: 'p!lesson', value: JSON.stringify([a.toString()]) },
    ])
    await index.close()

    const store = new FsChunkStore({ dir })
    await store.start()
    expect(Buffer.from(await store.get(a)).equals(Buffer.from(bytesOf(700, 1)))).toBe(true)
    expect(store.isPinned(a)).toBe(true)
    expect(await store.has(b)).toBe(false)
    expect(store.usage()).toMatchObject({ chunks: 1, bytes: 700 })
    expect(await readdir(dir)).not.toContain('chunks')
    await store.stop()
  })

  it('frees the disk space of deleted chunks, and keeps the others readable while it moves them', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir, segmentBytes: 4000 })
    await store.start()
    const cids: CID[] = []
    for (let i = 0; i < 20; i++) cids.push(await store.add(bytesOf(1000, i)))
    expect(await segmentFiles(dir)).toHaveLength(5)
    // a whole segment's chunks deleted: its file goes at once
    for (const cid of cids.slice(0, 4)) expect(await store.delete(cid)).toBe(true)
    expect(await segmentFiles(dir)).toHaveLength(4)
    // keep one chunk in four of the rest: those segments are a quarter live
    const kept = cids.filter((_, i) => i >= 4 && i % 4 === 1)
    for (const cid of cids.slice(4)) if (!kept.includes(cid)) await store.delete(cid)
    const fill = (cid: (typeof cids)[number]): number => cids.indexOf(cid)
    const readAll = async (s: FsChunkStore): Promise<boolean[]> =>
      await Promise.all(
        kept.map(async (cid) => Buffer.from(await s.get(cid)).equals(Buffer.from(bytesOf(1000, fill(cid))))),
      )
    // new writes start new segments, and each new segment compacts a sparse one, while
    // the kept chunks are read
    const writes = Array.from({ length: 12 }, (_, i) => store.add(bytesOf(1000, 100 + i)))
    const reads = Array.from({ length: 10 }, () => readAll(store))
    await Promise.all(writes)
    for (const r of await Promise.all(reads)) expect(r).toEqual(kept.map(() => true))
    await store.stop()

    const again = new FsChunkStore({ dir, segmentBytes: 4000 })
    await again.start()
    expect(await readAll(again)).toEqual(kept.map(() => true))
    expect(again.usage()).toMatchObject({ chunks: 16, bytes: 16000 })
    await again.compact()
    expect(await readAll(again)).toEqual(kept.map(() => true))
    await again.stop()
    // 16 live chunks of 1000 bytes fit in 4 segment files; the last may be partly filled
    expect((await segmentFiles(dir)).length).toBeLessThanOrEqual(5)
  })

  it('survives a SIGKILL mid-write: every acknowledged chunk is there, nothing unverified is', async () => {
    const dir = await tempDir()
    const child = spawn(process.execPath, [new URL('./fixtures/writer.ts', import.meta.url).pathname, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.once('exit', (_code, signal) => resolve(signal)),
    )
    const acked: string[] = []
    for await (const line of createInterface({ input: child.stdout })) {
      acked.push(line)
      if (acked.length === 300) child.kill('SIGKILL')
    }
    // the writer was killed mid-write, not dead early (which would leave nothing to check);
    // acks already in the pipe when it died may follow the 300th
    expect(await exited).toBe('SIGKILL')
    expect(acked.length).toBeGreaterThanOrEqual(300)
    const store = new FsChunkStore({ dir })
    await store.start()
    for (const key of acked) expect(await store.has(CID.parse(key))).toBe(true)
    let stored = 0
    for await (const cid of store.list()) {
      stored++
      expect(Buffer.from(blake3(await store.get(cid))).equals(Buffer.from(cid.multihash.digest))).toBe(true)
    }
    expect(stored).toBeGreaterThanOrEqual(acked.length)
    await store.stop()
  })
})

describe('FsChunkStore durability', () => {
  type Op = { type: string; key: string }
  /** The store's disk writes in order: copies, file syncs, index writes (synced or not), releases. */
  function record(): string[] {
    const events: string[] = []
    const segmentWrite = Segments.prototype.write
    vi.spyOn(Segments.prototype, 'write').mockImplementation(async function (this: Segments, l, bytes, sync) {
      await segmentWrite.call(this, l, bytes, sync)
      events.push(`write ${l.segment}${sync ? ' synced' : ''}`)
    })
    if ('sync' in Segments.prototype) {
      const segmentSync = Segments.prototype.sync
      vi.spyOn(Segments.prototype, 'sync').mockImplementation(async function (this: Segments, id) {
        await segmentSync.call(this, id)
        events.push(`write ${id} synced`)
      })
    }
    const release = Segments.prototype.release
    vi.spyOn(Segments.prototype, 'release').mockImplementation(async function (this: Segments, l: Location) {
      events.push(`release ${l.segment}`)
      await release.call(this, l)
    })
    const synced = (options: unknown): string =>
      (options as { sync?: boolean } | undefined)?.sync === true ? ' synced' : ''
    const index = (ops: Op[], options: unknown): void => {
      for (const op of ops) events.push(`index ${op.type} ${op.key.slice(0, 2)}${synced(options)}`)
    }
    const put = Level.prototype.put
    vi.spyOn(Level.prototype, 'put').mockImplementation(async function (this: Level, ...args: unknown[]) {
      index([{ type: 'put', key: args[0] as string }], args[2])
      // biome-ignore lint/suspicious/noExplicitAny: passing the caller's arguments through
      return await (put as any).apply(this, args)
    })
    const del = Level.prototype.del
    vi.spyOn(Level.prototype, 'del').mockImplementation(async function (this: Level, ...args: unknown[]) {
      index([{ type: 'del', key: args[0] as string }], args[1])
      // biome-ignore lint/suspicious/noExplicitAny: passing the caller's arguments through
      return await (del as any).apply(this, args)
    })
    const batch = Level.prototype.batch
    vi.spyOn(Level.prototype, 'batch').mockImplementation(function (this: Level, ...args: unknown[]) {
      if (Array.isArray(args[0])) index(args[0] as Op[], args[1])
      // biome-ignore lint/suspicious/noExplicitAny: passing the caller's arguments through
      return (batch as any).apply(this, args)
    })
    return events
  }

  it('compaction puts the moved chunks and their index entries on disk before it deletes the old segment', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir, segmentBytes: 4000 })
    await store.start()
    const cids: CID[] = []
    for (let i = 0; i < 8; i++) cids.push(await store.add(bytesOf(1000, i)))
    await store.pin('lesson', [cids[1]])
    // segment 1 keeps one pinned chunk in four: the next compaction empties it
    for (const i of [0, 2, 3]) await store.delete(cids[i])
    expect(store.locate(cids[1])!.segment).toBe(1)
    const events = record()
    await store.compact()
    const to = store.locate(cids[1])!.segment
    expect(to).not.toBe(1)
    expect(await segmentFiles(dir)).not.toContain('1.seg')

    const copied = events.indexOf(`write ${to}`)
    const dataSynced = events.indexOf(`write ${to} synced`, copied)
    const indexed = events.indexOf('index put c! synced')
    const released = events.indexOf('release 1')
    // the old copy was on disk (fsync off or not): so must the new one and its entry be
    // before the old file goes, or a power cut leaves the index pointing at a deleted file
    expect(copied).toBeGreaterThanOrEqual(0)
    expect(dataSynced).toBeGreaterThan(copied)
    expect(indexed).toBeGreaterThan(dataSynced)
    expect(released).toBeGreaterThan(indexed)
    expect(events.filter((e) => e.startsWith('index put c!') && !e.endsWith('synced'))).toEqual([])
    await store.stop()

    const again = new FsChunkStore({ dir, segmentBytes: 4000 })
    await again.start()
    expect(again.isPinned(cids[1])).toBe(true)
    expect(Buffer.from(await again.get(cids[1])).equals(Buffer.from(bytesOf(1000, 1)))).toBe(true)
    await again.stop()
  })

  it('writes pins synced, before they count', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const a = await store.add(bytesOf(1000, 1))
    const events = record()
    await store.pin('lesson', [a])
    await store.unpin('lesson')
    expect(events).toEqual(['index put p! synced', 'index del p! synced'])
    await store.stop()
  })
})

describe('FsChunkStore with direct I/O', () => {
  it('writes chunks from its own buffers directly, others through the page cache, and reads all back', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir, directIo: true })
    await store.start()
    const size = 256 * 1024
    const buffers = [await store.chunkBuffer(size), await store.chunkBuffer(size)]
    // ext4 and xfs have direct I/O, tmpfs has not: then any buffer will do
    if (store.writesDirect) expect(buffers.every((b) => b !== undefined && b.byteLength === size)).toBe(true)
    else expect(buffers).toEqual([undefined, undefined])
    const expected = new Map<string, Buffer>()
    for (let i = 0; i < 6; i++) {
      // the buffers are reused, as the origin's chunk writer does
      const bytes = buffers[i % 2] ?? new Uint8Array(size)
      bytes.fill(i + 1)
      const cid = await store.add(bytes)
      expected.set(cid.toString(), Buffer.from(bytes))
      // an odd-sized tail and a plain buffer in between: written through the page cache
      const tail = bytesOf(1000 + i, 50 + i)
      expected.set((await store.add(tail)).toString(), Buffer.from(tail))
    }
    const check = async (s: FsChunkStore): Promise<void> => {
      for (const [key, bytes] of expected) {
        const cid = CID.parse(key)
        expect(Buffer.from(await s.get(cid)).equals(bytes)).toBe(true)
        if (s.writesDirect) expect(s.locate(cid)!.offset % 4096).toBe(0)
      }
    }
    await check(store)
    await store.stop()
    const again = new FsChunkStore({ dir, directIo: true })
    await again.start()
    await check(again)
    expect(again.usage().chunks).toBe(12)
    await again.stop()
  })
})

describe('FsChunkStore.addInPlace', () => {
  it('stores runs of chunks that a hash worker reads, hashes and writes itself, across restarts', async () => {
    const dir = await tempDir()
    const chunk = 64 * 1024
    // three and a half chunks, then a copy of the first chunk
    const file = Buffer.concat([randomBytes(3.5 * chunk)])
    const first = file.subarray(0, chunk)
    await writeFile(join(dir, 'src.bin'), Buffer.concat([file, first]))
    const src = await open(join(dir, 'src.bin'), 'r')
    const pool = new HashPool({ size: 1 })
    pool.start()
    const store = new FsChunkStore({ dir: join(dir, 'store'), directIo: true })
    await store.start()
    try {
      const lengths = [chunk, chunk, chunk, chunk / 2]
      const into = (await store.chunkBuffer(4 * chunk)) ?? new Uint8Array(new SharedArrayBuffer(4 * chunk))
      const bytes = into.subarray(0, 3.5 * chunk)
      const cids = await store.addInPlace(bytes, lengths, (writeTo) =>
        pool.readAndHash(src.fd, 0, bytes, { chunkSize: chunk, writeTo }),
      )
      const pieces = [0, 1, 2, 3].map((i) =>
        file.subarray(i * chunk, Math.min((i + 1) * chunk, file.byteLength)),
      )
      expect(cids.map(String)).toEqual(pieces.map((p) => chunkCid(p).toString()))
      if (store.writesDirect) expect(store.bytesWritten.direct).toBe(3.5 * chunk)
      // a run holding a chunk stored already: the old copy stays, the count does not grow
      const again = into.subarray(0, chunk)
      const [dup] = await store.addInPlace(again, [chunk], (writeTo) =>
        pool.readAndHash(src.fd, 3.5 * chunk, again, { chunkSize: chunk, writeTo }),
      )
      expect(dup.toString()).toBe(cids[0].toString())
      expect(store.usage()).toMatchObject({ chunks: 4, bytes: 3.5 * chunk })
      await store.stop()
      const reopened = new FsChunkStore({ dir: join(dir, 'store'), directIo: true })
      await reopened.start()
      for (const [i, cid] of cids.entries())
        expect(Buffer.from(await reopened.get(cid)).equals(pieces[i])).toBe(true)
      expect(reopened.usage()).toMatchObject({ chunks: 4, bytes: 3.5 * chunk })
      await reopened.stop()
    } finally {
      await store.stop()
      await pool.stop()
      await src.close()
    }
  })

  it('stores nothing when the fill fails, when the quota is short, or when the lengths do not add up', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir, quotaBytes: 10_000 })
    await store.start()
    const bytes = new Uint8Array(new SharedArrayBuffer(4000))
    await expect(
      store.addInPlace(bytes, [2000, 2000], async () => {
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' })
      }),
    ).rejects.toMatchObject({ code: 'ENOSPC' })
    let called = false
    const fill = async () => {
      called = true
      return { bytes, digests: [blake3(bytes)] }
    }
    await expect(store.addInPlace(new Uint8Array(20_000), [20_000], fill)).rejects.toThrow(QuotaExceededError)
    await expect(store.addInPlace(bytes, [1000, 2000], fill)).rejects.toThrow(RangeError)
    // a fill that wrote fewer bytes than it was given
    await expect(
      store.addInPlace(bytes, [4000], async () => ({
        bytes: bytes.subarray(0, 10),
        digests: [blake3(bytes)],
      })),
    ).rejects.toThrow(/wrote 10 of 4000 bytes/)
    expect(called).toBe(false)
    expect(store.usage()).toMatchObject({ chunks: 0, bytes: 0 })
    // and the store still takes chunks
    const cid = await store.add(bytesOf(5000, 9))
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(bytesOf(5000, 9)))).toBe(true)
    await store.stop()
  })
})

describe('FsChunkStore under concurrent calls', () => {
  it('a delete waiting behind a compaction keeps a chunk pinned meanwhile', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir, segmentBytes: 1024 * 1024 })
    await store.start()
    const cids: CID[] = []
    for (let i = 0; i < 48; i++) cids.push(await store.add(new Uint8Array(randomBytes(64 * 1024))))
    for (const c of cids.slice(0, 12)) await store.delete(c) // the first segment is now sparse
    const k = cids[47]
    const compaction = store.compact()
    const deleting = store.delete(k) // not pinned yet: its turn comes after the compaction
    await store.pin('published', [k])
    expect(await deleting).toBe(false)
    await compaction
    expect(store.isPinned(k)).toBe(true)
    expect(Buffer.from(await store.get(k)).byteLength).toBe(64 * 1024)
    await store.stop()
    const again = new FsChunkStore({ dir, segmentBytes: 1024 * 1024 })
    await again.start()
    expect(await again.has(k)).toBe(true)
    await again.stop()
  })

  it('a chunk stored again while its delete is still being written stays stored, across a restart too', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const bytes = new Uint8Array(randomBytes(5000))
    const cid = chunkCid(bytes)
    await store.put(cid, bytes)
    // the delete's index write is slow to land (a busy disk; LevelDB writes run on the
    // thread pool, in no set order)
    const reached = Promise.withResolvers<void>()
    const landed = Promise.withResolvers<void>()
    const del = Level.prototype.del
    vi.spyOn(Level.prototype, 'del').mockImplementation(async function (this: Level, ...args: unknown[]) {
      if (args[0] === `c!${cid.toString()}`) {
        reached.resolve()
        await landed.promise
      }
      // biome-ignore lint/suspicious/noExplicitAny: passing the caller's arguments through
      return await (del as any).apply(this, args)
    })
    // a cache evicting one lesson deletes the chunk; another lesson sharing it stores it meanwhile
    const deleting = store.delete(cid)
    await reached.promise
    const storing = store.put(cid, bytes)
    await settledOrHeld(storing)
    landed.resolve()
    expect(await deleting).toBe(true)
    await storing
    expect(await store.has(cid)).toBe(true)
    expect(Buffer.from(await store.get(cid)).equals(Buffer.from(bytes))).toBe(true)
    expect(store.usage()).toMatchObject({ chunks: 1, bytes: 5000 })
    await store.stop()
    vi.restoreAllMocks()
    const again = new FsChunkStore({ dir })
    await again.start()
    expect(Buffer.from(await again.get(cid)).equals(Buffer.from(bytes))).toBe(true)
    expect(again.usage()).toMatchObject({ chunks: 1, bytes: 5000 })
    await again.stop()
  })

  it('pins and unpins of one key end on disk as they ended in memory', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const a = await store.add(bytesOf(1000, 1))
    const b = await store.add(bytesOf(1000, 2))
    // the first pin write of each key is slow to land (LevelDB writes run on the thread
    // pool, in no set order): a later write of that key may land first
    const held = new Map<string, PromiseWithResolvers<void>>()
    const hold = (key: string): PromiseWithResolvers<void> => {
      const gate = Promise.withResolvers<void>()
      held.set(`p!${key}`, gate)
      return gate
    }
    const slow = async (key: unknown): Promise<void> => {
      const gate = held.get(key as string)
      if (gate === undefined) return
      held.delete(key as string)
      await gate.promise
    }
    const put = Level.prototype.put
    vi.spyOn(Level.prototype, 'put').mockImplementation(async function (this: Level, ...args: unknown[]) {
      await slow(args[0])
      // biome-ignore lint/suspicious/noExplicitAny: passing the caller's arguments through
      return await (put as any).apply(this, args)
    })
    const del = Level.prototype.del
    vi.spyOn(Level.prototype, 'del').mockImplementation(async function (this: Level, ...args: unknown[]) {
      await slow(args[0])
      // biome-ignore lint/suspicious/noExplicitAny: passing the caller's arguments through
      return await (del as any).apply(this, args)
    })
    // pinned, then unpinned at once: nothing is pinned
    const pinnedGate = hold('dropped')
    const pinning = store.pin('dropped', [a])
    const unpinning = store.unpin('dropped')
    await settledOrHeld(unpinning)
    pinnedGate.resolve()
    await Promise.all([pinning, unpinning])
    // unpinned, then pinned again at once: pinned
    await store.pin('kept', [b])
    const unpinnedGate = hold('kept')
    const unpinningKept = store.unpin('kept')
    const pinningAgain = store.pin('kept', [b])
    await settledOrHeld(pinningAgain)
    unpinnedGate.resolve()
    await Promise.all([unpinningKept, pinningAgain])
    const before = { pins: store.pins().sort(), a: store.isPinned(a), b: store.isPinned(b) }
    expect(before).toEqual({ pins: ['kept'], a: false, b: true })
    await store.stop()
    vi.restoreAllMocks()
    const again = new FsChunkStore({ dir })
    await again.start()
    expect({ pins: again.pins().sort(), a: again.isPinned(a), b: again.isPinned(b) }).toEqual(before)
    await again.stop()
  })

  it('stop waits for the writes under way; one it refuses fails with StoreStoppedError', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const chunks = Array.from({ length: 8 }, () => new Uint8Array(randomBytes(1024 * 1024)))
    const puts = chunks.map(async (b) => {
      await store.put(chunkCid(b), b)
      return 'stored'
    })
    await Promise.race(puts) // the others are under way now
    // a put called just before stop: it passed the started check but is still hashing
    // when stop begins, so it must be refused rather than write to closing files
    const lateBytes = new Uint8Array(randomBytes(1024 * 1024))
    const late = store.put(chunkCid(lateBytes), lateBytes).then(
      () => 'stored',
      (err: unknown) => err,
    )
    const stopping = store.stop()
    const outcomes = await Promise.allSettled(puts)
    expect(await late).toBeInstanceOf(StoreStoppedError)
    await stopping
    for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(StoreStoppedError)
    // what was acknowledged is there after a restart, and nothing else
    const again = new FsChunkStore({ dir })
    await again.start()
    for (const [i, o] of outcomes.entries())
      expect(await again.has(chunkCid(chunks[i]))).toBe(o.status === 'fulfilled')
    expect(await again.has(chunkCid(lateBytes))).toBe(false)
    expect(again.usage().chunks).toBe(outcomes.filter((o) => o.status === 'fulfilled').length)
    await again.stop()
  })

  it('stop waits for a hash worker writing chunks in place before it closes their segment', async () => {
    const dir = await tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    const bytes = new Uint8Array(new SharedArrayBuffer(4000))
    bytes.set(randomBytes(4000))
    const filling = Promise.withResolvers<void>()
    const resume = Promise.withResolvers<void>()
    const adding = store.addInPlace(bytes, [4000], async (target) => {
      filling.resolve()
      await resume.promise
      // what a hash worker does: one positional write to the segment's descriptor
      writeSync(target.fd, bytes, 0, bytes.byteLength, target.position)
      return { bytes, digests: [blake3(bytes)] }
    })
    await filling.promise
    let stopped = false
    const stopping = store.stop().then(() => {
      stopped = true
    })
    await new Promise((r) => setImmediate(r))
    expect(stopped).toBe(false)
    resume.resolve()
    const [cid] = await adding
    await stopping
    const again = new FsChunkStore({ dir })
    await again.start()
    expect(Buffer.from(await again.get(cid)).equals(Buffer.from(bytes))).toBe(true)
    await again.stop()
  })
})

/**
 * Waits until `work` settles, or for a moment if it does not: the store may rightly hold it
 * back until a write the test is holding lands (which the test does next).
 */
async function settledOrHeld(work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([
    work.then(
      () => {},
      () => {},
    ),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 300)
    }),
  ])
  clearTimeout(timer)
}
