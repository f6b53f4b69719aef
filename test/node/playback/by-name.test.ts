import { afterEach, describe, expect, it } from 'vitest'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

describe('playback by name', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('plays a resource whose name is as long as the tracker accepts (200 characters)', async () => {
    const key = await originKey()
    const node = await h.spawn({ playback: { port: 0 } })
    const bytes = randomContent(100_000)
    const m = await addContent(node.store, bytes, key)
    await node.seed(m)
    const long = `${'grade3-math-fractions-'.repeat(9)}07`.slice(0, 200)
    for (const name of [long, 'é'.repeat(200), '📐'.repeat(200)]) {
      await node.names.set(name, m.cid.toString())
      const response = await fetch(`${node.playbackUrl}/content/by-name/${encodeURIComponent(name)}`, {
        headers: { range: 'bytes=0-9' },
      })
      expect(response.status, name).toBe(206)
      expect(Buffer.from(await response.arrayBuffer()).equals(Buffer.from(bytes.subarray(0, 10)))).toBe(true)
    }
  })
})
