import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm, stat, truncate } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { FsChunkStore } from '../../../node/store/index.ts'
import { Segments } from '../../../node/store/segments.ts'

const dirs: string[] = []
afterEach(async () => {
  vi.restoreAllMocks()
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dandelion-truncated-segment-'))
  dirs.push(d)
  return d
}

const CHUNK = 1000
/** Eight chunks per segment: segment n holds chunks 8(n-1) .. 8n-1, in that order. */
const SEGMENT_BYTES = 8 * CHUNK
const same = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a).equals(Buffer.from(b))
const segmentFiles = async (dir: string): Promise<string[]> =>
  (await readdir(join(dir, 'segments'))).filter((n) => n.endsWith('.seg')).sort()

/** A store of 32 random chunks in segments 1–4 (the fourth still active). */
async function filled(dir: string): Promise<{ store: FsChunkStore; chunks: Uint8Array[]; cids: CID[] }> {
  const store = new FsChunkStore({ dir, segmentBytes: SEGMENT_BYTES })
  await store.start()
  const chunks = Array.from({ length: 32 }, () => new Uint8Array(randomBytes(CHUNK)))
  const cids: CID[] = []
  for (const c of chunks) cids.push(await store.add(c))
  expect(await segmentFiles(dir)).toEqual(['1.seg', '2.seg', '3.seg', '4.seg'])
  return { store, chunks, cids }
}

/**
 * Segment 2 cut mid-chunk (chunks 8–13 intact, 14 cut, 15 gone), segment 3 cut to
 * nothing (chunks 16–23 gone), as a power cut or a failing disk leaves them.
 */
async function cut(store: FsChunkStore, cids: CID[]): Promise<void> {
  const two = store.locate(cids[8])!
  const three = store.locate(cids[16])!
  expect([two.segment, three.segment]).toEqual([2, 3])
  await truncate(two.path, 6 * CHUNK + CHUNK / 2)
  await truncate(three.path, 0)
}

const LOST = [14, 15, 16, 17, 18, 19, 20, 21, 22, 23]
/** Deleted so that segments 2 and 3 are less than half live: left are 13 (intact) and the lost ones. */
const DELETED = [8, 9, 10, 11, 12, 16, 17, 18, 19, 20]

/** What every scenario must end with: the store serves what it has, and only that. */
async function expectHealthy(
  store: FsChunkStore,
  chunks: Uint8Array[],
  cids: CID[],
  { added = 0, deleted = DELETED }: { added?: number; deleted?: number[] } = {},
): Promise<void> {
  for (const [i, cid] of cids.entries()) {
    if (deleted.includes(i) || LOST.includes(i)) {
      await expect(store.get(cid)).rejects.toMatchObject({ name: 'ChunkNotFoundError' })
      expect(await store.has(cid)).toBe(false)
    } else {
      expect(same(await store.get(cid), chunks[i]), `chunk ${i}`).toBe(true)
    }
  }
  const left = cids.length - new Set([...LOST, ...deleted]).size + added
  expect(store.usage()).toMatchObject({ chunks: left, bytes: left * CHUNK })
}

describe('FsChunkStore with a segment cut short', () => {
  it('cut while stopped: starts, drops what was lost, compacts, frees the space, and restarts clean', async () => {
    const dir = await tempDir()
    const { store, chunks, cids } = await filled(dir)
    await cut(store, cids)
    await store.stop()

    const again = new FsChunkStore({ dir, segmentBytes: SEGMENT_BYTES })
    await again.start()
    for (const i of DELETED) await again.delete(cids[i])
    await again.compact()
    expect(await segmentFiles(dir)).not.toContain('2.seg')
    expect(await segmentFiles(dir)).not.toContain('3.seg')
    await expectHealthy(again, chunks, cids)
    const more = new Uint8Array(randomBytes(CHUNK))
    const added = await again.add(more)
    await again.stop()

    const third = new FsChunkStore({ dir, segmentBytes: SEGMENT_BYTES })
    await third.start()
    await expectHealthy(third, chunks, cids, { added: 1 })
    expect(same(await third.get(added), more)).toBe(true)
    await third.stop()
  })

  it('cut under a running store: compaction drops the lost chunks, moves the rest and deletes the segments', async () => {
    const dir = await tempDir()
    const { store, chunks, cids } = await filled(dir)
    await cut(store, cids)
    const before = (await stat(join(dir, 'segments', '2.seg'))).size
    expect(before).toBeGreaterThan(0)
    for (const i of DELETED) await store.delete(cids[i])
    // the chunks that were lost are not found out until something reads them: compaction does
    await store.compact()
    // the whole segments' space is freed: the intact chunk moved, the lost ones forgotten
    expect(await segmentFiles(dir)).not.toContain('2.seg')
    expect(await segmentFiles(dir)).not.toContain('3.seg')
    await expectHealthy(store, chunks, cids)
    // the store still takes chunks, and rolling over to new segments compacts as before
    const more = Array.from({ length: 12 }, () => new Uint8Array(randomBytes(CHUNK)))
    const added: CID[] = []
    for (const m of more) added.push(await store.add(m))
    for (const [i, cid] of added.entries()) expect(same(await store.get(cid), more[i])).toBe(true)
    await store.stop()

    const again = new FsChunkStore({ dir, segmentBytes: SEGMENT_BYTES })
    await again.start()
    await expectHealthy(again, chunks, cids, { added: added.length })
    for (const [i, cid] of added.entries()) expect(same(await again.get(cid), more[i])).toBe(true)
    await again.compact()
    await again.stop()
  })

  it('cut under a running store: each new segment still compacts a sparse one, the cut one and the others', async () => {
    const dir = await tempDir()
    const { store, chunks, cids } = await filled(dir)
    await cut(store, cids)
    // segment 3 is the sparsest (two lost chunks left), 1 and 2 are next (three chunks each)
    const deleted = [...DELETED, 0, 1, 2, 3, 4, 21]
    for (const i of deleted) await store.delete(cids[i])
    const more = Array.from({ length: 32 }, () => new Uint8Array(randomBytes(CHUNK)))
    const added: CID[] = []
    for (const m of more) added.push(await store.add(m))
    // deletes take their turn after the compactions under way
    await store.delete(added.pop()!)
    expect(await segmentFiles(dir)).not.toContain('1.seg')
    expect(await segmentFiles(dir)).not.toContain('2.seg')
    expect(await segmentFiles(dir)).not.toContain('3.seg')
    await expectHealthy(store, chunks, cids, { added: added.length, deleted })
    for (const [i, cid] of added.entries()) expect(same(await store.get(cid), more[i])).toBe(true)
    await store.stop()
  })

  it('a segment that cannot be read does not stop the other segments from being compacted', async () => {
    const dir = await tempDir()
    const { store, chunks, cids } = await filled(dir)
    // segment 3 is the sparsest, 1 and 2 are next; segment 3's disk sectors fail to read
    const deleted = [0, 1, 2, 3, 4, 8, 9, 10, 11, 12, 16, 17, 18, 19, 20, 21]
    for (const i of deleted) await store.delete(cids[i])
    const read = Segments.prototype.read
    vi.spyOn(Segments.prototype, 'read').mockImplementation(async function (this: Segments, l) {
      if (l.segment === 3) throw Object.assign(new Error('i/o error'), { code: 'EIO' })
      return await read.call(this, l)
    })
    const more = Array.from({ length: 32 }, () => new Uint8Array(randomBytes(CHUNK)))
    const added: CID[] = []
    for (const m of more) added.push(await store.add(m))
    await store.delete(added.pop()!) // after the compactions under way
    expect(await segmentFiles(dir)).not.toContain('1.seg')
    expect(await segmentFiles(dir)).not.toContain('2.seg')
    // an I/O error may pass: the chunks stay, and compact() tries again
    expect(await segmentFiles(dir)).toContain('3.seg')
    expect(await store.has(cids[22])).toBe(true)
    vi.restoreAllMocks()
    await store.compact()
    expect(await segmentFiles(dir)).not.toContain('3.seg')
    for (const [i, cid] of cids.entries()) {
      if (!deleted.includes(i)) expect(same(await store.get(cid), chunks[i]), `chunk ${i}`).toBe(true)
    }
    expect(store.usage().chunks).toBe(cids.length - deleted.length + added.length)
    await store.stop()
  })
})
