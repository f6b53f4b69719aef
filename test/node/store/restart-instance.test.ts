import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { FsChunkStore } from '../../../node/store/index.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

describe('FsChunkStore started again', () => {
  it('reports what its files hold now, not what it held before it stopped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dandelion-restart-instance-'))
    dirs.push(dir)
    const store = new FsChunkStore({ dir, segmentBytes: 4000 })
    await store.start()
    const gone = await store.add(new Uint8Array(randomBytes(3000)))
    const kept = new Uint8Array(randomBytes(3000))
    const stays = await store.add(kept)
    await store.pin('lesson', [gone, stays])
    const where = store.locate(gone)!
    expect(store.locate(stays)!.path).not.toBe(where.path)
    await store.stop()

    // the segment holding one chunk is lost while the store is stopped
    await unlink(where.path)
    await store.start()
    expect(await store.has(gone)).toBe(false)
    expect(Buffer.from(await store.get(stays)).equals(Buffer.from(kept))).toBe(true)
    expect(store.usage()).toMatchObject({ chunks: 1, bytes: 3000, pinnedBytes: 3000 })
    const listed: string[] = []
    for await (const cid of store.list()) listed.push(cid.toString())
    expect(listed).toEqual([stays.toString()])
    await store.stop()
  })
})
