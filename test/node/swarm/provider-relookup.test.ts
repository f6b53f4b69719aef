import { afterEach, describe, expect, it } from 'vitest'
import { MemoryChunkStore } from '../../../node/store/memory-store.ts'
import { discoveryKey } from '../../../node/swarm/discovery-key.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'

describe('looking up providers again while a swarm seeks', () => {
  const h = new Harness()
  const stores: MemoryChunkStore[] = []
  afterEach(async () => {
    await h.teardown()
    for (const s of stores.splice(0)) await s.stop()
  })

  it('a device whose first DHT lookup found nobody finds a holder that announces later, and fetches from it', async () => {
    const key = await originKey()
    const d = await h.spawn({ dht: true }) // holds nothing: only the DHT
    const bootstrap = [d.multiaddrs[0].toString()]
    // a device is a DHT client: nobody learns of it through the DHT, so only its own
    // lookups can lead it to a holder
    const device = await h.spawn({ dht: true, role: 'device', bootstrap })
    await until(() => device.libp2p.getConnections(d.peerId).length > 0)

    // count the device's provider lookups that have ended
    const routing = device.libp2p.contentRouting
    const find = routing.findProviders.bind(routing)
    let lookupsEnded = 0
    routing.findProviders = async function* (...args: Parameters<typeof find>) {
      try {
        yield* find(...args)
      } finally {
        lookupsEnded++
      }
    }

    // the lesson exists (the origin signed it) but no running node holds it yet
    const bytes = randomContent(600_000)
    const store = new MemoryChunkStore()
    await store.start()
    stores.push(store)
    const m = await addContent(store, bytes, key, { name: 'lesson' })
    const fetched = device.fetch(m.cid, { signal: AbortSignal.timeout(30_000) })
    fetched.catch(() => {})
    await until(() => lookupsEnded >= 1)

    // the holder comes up and announces only after the device's lookup ended empty
    const holder = await h.spawn({ dht: true, bootstrap, store })
    await holder.seed(m)
    await until(async () => {
      try {
        const signal = AbortSignal.timeout(2_000)
        for await (const p of d.libp2p.contentRouting.findProviders(await discoveryKey(m.cid), { signal }))
          if (p.id.equals(holder.peerId)) return true
      } catch {}
      return false
    })

    await fetched
    expect(Buffer.from(await readAll(device, m)).equals(Buffer.from(bytes))).toBe(true)
    expect(device.status().totals.bytesFromPeers).toBe(m.size)
  })
})
