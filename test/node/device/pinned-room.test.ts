/**
 * A lamp whose quota is mostly taken by lessons pinned on it (placed by the tracker), asked
 * to play one it does not hold. Pinned lessons never go and a lesson being played keeps
 * the chunks it was sent, so a range that needs more room than the pins leave can never be
 * held whole: the player is told so up front (507, as for a range larger than the whole
 * quota), not sent a 200 whose body stops after the few chunks that fitted.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

const MiB = 1024 * 1024
const h = new Harness()
afterEach(async () => await h.teardown())

async function held(node: DandelionNode, m: Manifest): Promise<number> {
  return (await Promise.all(m.chunks.map(async (c) => await node.store.has(c)))).filter(Boolean).length
}

describe('a lamp whose quota is taken by pinned lessons', () => {
  it('refuses with 507 a range that needs more room than the pins leave, and plays one that fits', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const pinned = await addContent(seeder.store, randomContent(1.5 * MiB), key, { name: 'pinned' })
    const bytes = randomContent(MiB)
    const other = await addContent(seeder.store, bytes, key, { name: 'other' })
    for (const m of [pinned, other]) await seeder.seed(m)
    const lamp = await h.spawn({ role: 'device', quotaBytes: 2 * MiB, playback: { port: 0 } })
    await h.connect(lamp, seeder)
    await lamp.fetch(pinned.cid)
    await lamp.pin(pinned.cid)
    const url = `${lamp.playbackUrl}/content/${other.cid.toString()}`

    // 1 MiB fits in the 2 MiB quota, but not beside the 1.5 MiB pinned
    const whole = await fetch(url, { signal: AbortSignal.timeout(15_000) })
    expect(whole.status).toBe(507)
    const body = (await whole.json()) as { error: string; message: string }
    expect(body.error).toBe('QuotaExceededError')
    expect(body.message).toContain('pinned')
    expect(await held(lamp, pinned)).toBe(pinned.chunks.length)

    // a seek into it within the room the pins leave plays
    const part = await fetch(url, {
      headers: { range: 'bytes=1000-99999' },
      signal: AbortSignal.timeout(15_000),
    })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer()).equals(Buffer.from(bytes.subarray(1000, 100000)))).toBe(true)
    expect(await held(lamp, pinned)).toBe(pinned.chunks.length)
  })
})
