/**
 * A player asking for content the node cannot store: its quota is full of content it must
 * keep (nothing is evicted on a campus node), or its disk is full. The player and the
 * operator are told it is a matter of room — 507 Insufficient Storage, the cause by name,
 * and the fix — as for a range larger than the whole quota, not a bare 500 "Internal
 * Server Error" that reads like a bug in the node.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { FsChunkStore } from '../../../node/store/index.ts'
import { addContent, Harness, originKey, randomContent, until } from '../utils/harness.ts'

const MiB = 1024 * 1024

interface ErrorBody {
  error: string
  code?: string
  message: string
}

describe('playback of content the store refuses', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  /** What a player and an operator see once the read was refused: nothing left reading. */
  async function readsNow(url: string): Promise<string | undefined> {
    const text = await (await fetch(`${url}/metrics`)).text()
    return text.split('\n').find((l) => l.startsWith('dandelion_node_playback_reads '))
  }

  it('answers 507 QuotaExceededError with the fix when the quota is full of content the node keeps', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const kept = await addContent(seeder.store, randomContent(MiB), key, { name: 'kept' })
    const asked = await addContent(seeder.store, randomContent(MiB), key, { name: 'asked' })
    for (const m of [kept, asked]) await seeder.seed(m)
    // its quota holds the lesson placed (pinned) on it and not much more: nothing to evict
    const node = await h.spawn({ quotaBytes: 1.1 * MiB, playback: { port: 0 } })
    await h.connect(node, seeder)
    await node.fetch(kept.cid)
    await node.pin(kept.cid)

    const res = await fetch(`${node.playbackUrl}/content/${asked.cid.toString()}`, {
      headers: { range: 'bytes=0-99999' },
      signal: AbortSignal.timeout(15_000),
    })
    expect(res.status).toBe(507)
    const body = (await res.json()) as ErrorBody
    expect(body.error).toBe('QuotaExceededError')
    expect(body.message).toContain('raise --quota-bytes')
    expect(await readsNow(node.playbackUrl!)).toBe('dandelion_node_playback_reads 0')
    // what it holds is intact, and still plays
    const held = await fetch(`${node.playbackUrl}/content/${kept.cid.toString()}`, {
      headers: { range: 'bytes=0-99' },
    })
    expect(held.status).toBe(206)
    await held.arrayBuffer()
  })

  it('answers 507 DiskFullError naming the store and the fix when the disk is full', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const asked = await addContent(seeder.store, randomContent(MiB), key, { name: 'asked' })
    await seeder.seed(asked)
    const dataDir = await h.tempDir()
    const node = await h.spawn({ role: 'device', dataDir, playback: { port: 0 } })
    await h.connect(node, seeder)
    const store = node.store as FsChunkStore
    const proto = Object.getPrototypeOf(store) as { writeRaw: unknown; addInPlace?: unknown }
    vi.spyOn(proto as { writeRaw(): Promise<void> }, 'writeRaw').mockImplementation(async () => {
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 })
    })

    const res = await fetch(`${node.playbackUrl}/content/${asked.cid.toString()}`, {
      signal: AbortSignal.timeout(15_000),
    })
    expect(res.status).toBe(507)
    const body = (await res.json()) as ErrorBody
    expect(body.error).toBe('DiskFullError')
    expect(body.code).toBe('ENOSPC')
    expect(body.message).toContain(dataDir)
    expect(body.message).toContain('free space on that disk')
    await until(async () => (await readsNow(node.playbackUrl!)) === 'dandelion_node_playback_reads 0', 5_000)
  })
})
