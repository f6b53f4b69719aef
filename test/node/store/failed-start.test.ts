import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readlink, rm, symlink, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { afterEach, describe, expect, it } from 'vitest'
import { FsChunkStore } from '../../../node/store/index.ts'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'dandelion-failed-start-'))
  dirs.push(d)
  return d
}

/** The files under `dir` this process holds open (Linux: `/proc/self/fd`). */
async function openFilesUnder(dir: string): Promise<string[]> {
  const open: string[] = []
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(join('/proc/self/fd', fd)).catch(() => '')
    if (target.startsWith(`${dir}/`)) open.push(target)
  }
  return open
}

/** A store holding one pinned chunk, stopped. */
async function stored(dir: string): Promise<{ bytes: Uint8Array; cid: CID }> {
  const store = new FsChunkStore({ dir })
  await store.start()
  const bytes = new Uint8Array(randomBytes(5000))
  const cid = await store.add(bytes)
  await store.pin('lesson', [cid])
  await store.stop()
  return { bytes, cid }
}

async function expectIntact(store: FsChunkStore, cid: CID, bytes: Uint8Array): Promise<void> {
  expect(Buffer.from(await store.get(cid)).equals(Buffer.from(bytes))).toBe(true)
  expect(store.isPinned(cid)).toBe(true)
  expect(store.usage()).toMatchObject({ chunks: 1, bytes: 5000, pinnedBytes: 5000 })
}

describe('FsChunkStore start that fails', () => {
  it('closes what it opened: a retry reports the real cause again, and succeeds once it is fixed', async () => {
    const dir = await tempDir()
    const { bytes, cid } = await stored(dir)
    // a segment moved to another disk that is not mounted: its link points nowhere
    const broken = join(dir, 'segments', '7.seg')
    await symlink(join(dir, 'elsewhere', '7.seg'), broken)

    // direct I/O too: its probe file is opened at start as well
    const store = new FsChunkStore({ dir, directIo: true })
    await expect(store.start()).rejects.toMatchObject({ code: 'ENOENT' })
    // the daemon retries before anyone fixed it: the same cause, not a lock on the index
    await expect(store.start()).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await openFilesUnder(dir)).toEqual([])
    expect(store.usage()).toMatchObject({ chunks: 0, bytes: 0 })

    await unlink(broken)
    await store.start()
    await expectIntact(store, cid, bytes)
    await store.stop()
    expect(await openFilesUnder(dir)).toEqual([])
  })

  it('that fails late, after loading the index, counts nothing and lets a new instance start', async () => {
    const dir = await tempDir()
    const { bytes, cid } = await stored(dir)
    // a stray file where the first layout kept a directory of chunk files
    await mkdir(join(dir, 'chunks'))
    await writeFile(join(dir, 'chunks', 'zz'), 'not a directory')

    const store = new FsChunkStore({ dir })
    await expect(store.start()).rejects.toMatchObject({ code: 'ENOTDIR' })
    expect(await openFilesUnder(dir)).toEqual([])
    expect(store.usage()).toMatchObject({ chunks: 0, bytes: 0, pinnedBytes: 0 })
    await expect(store.get(cid)).rejects.toMatchObject({ name: 'NotStartedError' })

    await rm(join(dir, 'chunks'), { recursive: true })
    // the daemon may build a new store rather than retry the old one: the index is free
    const again = new FsChunkStore({ dir })
    await again.start()
    await expectIntact(again, cid, bytes)
    await again.stop()
  })
})
