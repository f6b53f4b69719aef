/**
 * `POST /fetch` (what `dandelion fetch` and an operator's script call) answers 202 only
 * once the download is recorded on disk, so a node that crashes right after still carries
 * it on when it starts again. It used to answer at once, before the record was written,
 * and a download it had accepted could be lost; a record the disk had no room for was
 * answered 202 too, and then showed nowhere.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { FsChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

type SavePin = (key: string, cids: string[] | undefined) => Promise<void>

describe('POST /fetch', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  async function nodeWithContent() {
    const key = await originKey()
    const seeder = await h.spawn()
    const lesson = await addContent(seeder.store, randomContent(256 * 1024), key)
    await seeder.seed(lesson)
    const node = await h.spawn({ dataDir: await h.tempDir(), playback: { port: 0 } })
    await h.connect(node, seeder)
    const proto = Object.getPrototypeOf(node.store as FsChunkStore) as { savePin: SavePin }
    return { lesson, node, proto }
  }

  it('answers 202 once the download is recorded on disk, not before', async () => {
    const { lesson, node, proto } = await nodeWithContent()
    const original = proto.savePin
    let written = false
    let release!: () => void
    const held = new Promise<void>((resolve) => (release = resolve))
    vi.spyOn(proto, 'savePin').mockImplementation(async function (this: unknown, key, cids) {
      await held
      await original.call(this, key, cids)
      if (key.startsWith('want:')) written = true
    })
    setTimeout(release, 300)

    const res = await fetch(`${node.playbackUrl}/fetch/${lesson.cid.toString()}`, {
      method: 'POST',
      signal: AbortSignal.timeout(15_000),
    })
    expect(res.status).toBe(202)
    expect(written).toBe(true)
  })

  it('answers 507 DiskFullError when the disk has no room for the record, and keeps nothing', async () => {
    const { lesson, node, proto } = await nodeWithContent()
    vi.spyOn(proto, 'savePin').mockImplementation(async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 })
    })

    const res = await fetch(`${node.playbackUrl}/fetch/${lesson.cid.toString()}`, {
      method: 'POST',
      signal: AbortSignal.timeout(15_000),
    })
    expect(res.status).toBe(507)
    const body = (await res.json()) as { error: string; message: string }
    expect(body.error).toBe('DiskFullError')
    expect(node.store.pins()).toEqual([])
  })
})
