/**
 * A lamp's cache across the evening switch-off: the lesson played last is the last to be
 * evicted after a restart too, and a lesson bigger than the whole quota is refused
 * without evicting anything for it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

const MiB = 1024 * 1024
const h = new Harness()
afterEach(() => h.teardown())

async function held(node: DandelionNode, m: Manifest): Promise<boolean> {
  return await node.store.has(m.chunks[0])
}

async function play(node: DandelionNode, m: Manifest): Promise<void> {
  for await (const _ of node.read(m.cid, 0, m.size - 1, { signal: AbortSignal.timeout(10_000) })) {
  }
}

describe('device cache across a restart', () => {
  it('evicts in the order lessons were last used before the restart, the one played last going last', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const make = async (name: string): Promise<Manifest> => {
      const m = await addContent(seeder.store, randomContent(MiB), key, { name })
      await seeder.seed(m)
      return m
    }
    const old: Manifest[] = []
    for (let i = 0; i < 5; i++) old.push(await make(`old-${i}`))
    const fresh: Manifest[] = []
    for (let i = 0; i < 4; i++) fresh.push(await make(`new-${i}`))
    const dataDir = await h.tempDir()
    const device = await createDevice(dataDir)
    await h.connect(device, seeder)
    for (const m of old) await device.fetch(m.cid)
    // old-0 fetched first but played last: least recently used are now old-1, old-2, ...
    await play(device, old[0])
    await device.stop()
    h.nodes.splice(h.nodes.indexOf(device), 1)

    const again = await createDevice(dataDir)
    await h.connect(again, seeder)
    for (const [i, m] of fresh.entries()) {
      await again.fetch(m.cid)
      // each new lesson makes room by evicting the next least recently used one
      const kept = await Promise.all(old.map(async (o) => await held(again, o)))
      expect(kept).toEqual(old.map((_, j) => j === 0 || j > i + 1))
    }

    async function createDevice(dir: string): Promise<DandelionNode> {
      return await h.spawn({
        role: 'device',
        dataDir: dir,
        quotaBytes: 5.5 * MiB,
        trustedOrigins: [key.publicKey],
      })
    }
  })

  it('refuses a lesson larger than the whole quota without evicting the lessons it holds', async () => {
    const key = await originKey()
    const seeder = await h.spawn()
    const small = await addContent(seeder.store, randomContent(MiB / 2), key, { name: 'small' })
    const big = await addContent(seeder.store, randomContent(2 * MiB), key, { name: 'big' })
    for (const m of [small, big]) await seeder.seed(m)
    const device = await h.spawn({ role: 'device', quotaBytes: 1.5 * MiB })
    await h.connect(device, seeder)
    await device.fetch(small.cid)
    await expect(device.fetch(big.cid)).rejects.toMatchObject({ name: 'QuotaExceededError' })
    expect(await held(device, small)).toBe(true)
  })
})
