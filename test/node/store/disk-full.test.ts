/**
 * A full disk under a node's store, as its operator reads it: the store's directory and the
 * fix, in the store's error and in the download's (`StoreWriteError`, shown in `/status`),
 * and nothing of the file system's own text (which can name a file inside the store).
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { chunkCid } from '../../../node/content/index.ts'
import { QuotaExceededError } from '../../../node/errors.ts'
import { DiskFullError, FsChunkStore } from '../../../node/store/index.ts'
import { Segments } from '../../../node/store/segments.ts'
import { StoreWriteError } from '../../../node/swarm/errors.ts'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

/** What the file system says when a segment file cannot be opened on a full disk. */
const SECRET = '/srv/private/segments/7.seg'
const enospc = (): Error =>
  Object.assign(new Error(`ENOSPC: no space left on device, open '${SECRET}'`), {
    code: 'ENOSPC',
    errno: -28,
    syscall: 'open',
    path: SECRET,
  })

describe('a full disk under the chunk store', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  it("names the store's directory and the fix, keeps the system's code, and not its text", async () => {
    const dir = await h.tempDir()
    const store = new FsChunkStore({ dir })
    await store.start()
    try {
      vi.spyOn(Segments.prototype, 'write').mockRejectedValue(enospc())
      const bytes = randomContent(1000)
      const err = await store.put(chunkCid(bytes), bytes).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(DiskFullError)
      expect(err).toMatchObject({ name: 'DiskFullError', code: 'ENOSPC', dir })
      expect((err as Error).message).toContain(dir)
      expect((err as Error).message).toContain('free space')
      expect((err as Error).message).not.toContain(SECRET)
      expect(((err as Error).cause as { code: string }).code).toBe('ENOSPC')
      // nothing was stored, and the store still works once the disk has room
      vi.restoreAllMocks()
      expect(await store.has(chunkCid(bytes))).toBe(false)
      await store.put(chunkCid(bytes), bytes)
      expect(await store.has(chunkCid(bytes))).toBe(true)
    } finally {
      await store.stop()
    }
  })

  it("fails a node's download with the data directory and the fix, in the error and in /status", async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const m = await addContent(seeder.store, randomContent(600 * 1024), key)
    await seeder.seed(m)
    const dataDir = await h.tempDir()
    const node = await h.spawn({ dataDir, trustedOrigins: [key.publicKey], playback: { port: 0 } })
    await h.connect(node, seeder)
    vi.spyOn(Segments.prototype, 'write').mockRejectedValue(enospc())

    const err = await node.fetch(m.cid, { signal: AbortSignal.timeout(20_000) }).catch((e: Error) => e)
    expect(err).toMatchObject({ name: 'StoreWriteError', code: 'ERR_STORE_WRITE' })
    const { message } = err as Error
    expect(message).toContain(join(dataDir, 'store'))
    expect(message).toContain('free space on that disk')
    expect(message).toContain('--quota-bytes')
    expect(message).not.toContain(SECRET)
    const status = (await (await fetch(`${node.playbackUrl}/status`)).json()) as {
      swarms: Array<{ manifestCid: string; error?: string }>
    }
    const swarm = status.swarms.find((s) => s.manifestCid === m.cid.toString())
    expect(swarm?.error).toBe(message)
  })

  it('says how to make room when the quota is what is full', () => {
    const err = new StoreWriteError(
      'bafy-lesson',
      3,
      new QuotaExceededError('storing 1000 bytes would exceed the quota of 500 bytes'),
    )
    expect(err.message).toContain('exceed the quota of 500 bytes')
    expect(err.message).toContain('unpin content')
    expect(err.message).toContain('raise --quota-bytes')
  })

  it("still names the data directory's disk when the cause is the system's raw error", () => {
    const err = new StoreWriteError('bafy-lesson', 0, enospc())
    expect(err.message).toContain("the node's data directory")
    expect(err.message).toContain('free space')
    expect(err.message).not.toContain(SECRET)
  })
})
