/**
 * An origin seeds every version it ever took in, each from its own super-seeding swarm.
 * Each such swarm used to tick every 500 ms for as long as the origin ran, peers or not,
 * so an idle origin's CPU grew with its catalogue. A swarm holding everything now ticks
 * only while it has peers to offer chunks to.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SCHEDULER_TICK_MS } from '../../../node/node-constants.ts'
import { Swarm } from '../../../node/swarm/swarm.ts'
import { addContent, Harness, originKey, randomContent } from '../utils/harness.ts'

describe('an idle origin', () => {
  const h = new Harness()
  afterEach(async () => {
    vi.restoreAllMocks()
    await h.teardown()
  })

  it('keeps no timer per version it seeds while no peer is connected, and super-seeds once one comes', async () => {
    const key = await originKey()
    const origin = await h.spawn({ role: 'origin' })
    const ticks = vi.spyOn(Swarm.prototype, 'tick')
    const versions = []
    for (let i = 0; i < 40; i++) {
      const m = await addContent(origin.store, randomContent(300 * 1024 + i), key)
      await origin.seed(m)
      versions.push(m)
    }
    // each swarm's first tick finds nobody to offer to, and it ticks no more
    await sleep(2 * SCHEDULER_TICK_MS)
    ticks.mockClear()
    await sleep(3 * SCHEDULER_TICK_MS)
    expect(ticks).not.toHaveBeenCalled()

    const node = await h.spawn()
    await h.connect(node, origin)
    const last = versions.at(-1)!
    await node.fetch(last.cid)
    const out: Uint8Array[] = []
    for await (const piece of node.read(last.cid, 0, last.size - 1)) out.push(piece)
    expect(Buffer.concat(out).byteLength).toBe(last.size)
    expect(node.status().totals.bytesFromPeers).toBe(last.size)
  })
})
