import { afterEach, describe, expect, it } from 'vitest'
import { discoveryKey } from '../../../node/swarm/discovery-key.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'

describe('finding a manifest through the DHT', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('a node that knows only a DHT peer finds the holder of a BLAKE3 manifest and fetches from it', async () => {
    const key = await originKey()
    const d = await h.spawn({ dht: true }) // holds nothing: only the DHT
    const bootstrap = [d.multiaddrs[0].toString()]
    const holder = await h.spawn({ dht: true, bootstrap })
    const m = await addContent(holder.store, randomContent(600_000), key, { name: 'lesson' })
    await holder.seed(m)

    // the announcement lands: the DHT peer lists the holder
    const listed = async (): Promise<boolean> => {
      try {
        const signal = AbortSignal.timeout(2_000)
        for await (const p of d.libp2p.contentRouting.findProviders(await discoveryKey(m.cid), { signal }))
          if (p.id.equals(holder.peerId)) return true
      } catch {}
      return false
    }
    await until(listed)

    const seeker = await h.spawn({ dht: true, bootstrap })
    await until(() => seeker.libp2p.getConnections(d.peerId).length > 0)
    expect(seeker.libp2p.getConnections(holder.peerId)).toHaveLength(0)
    await seeker.fetch(m.cid, { signal: AbortSignal.timeout(20_000) })
    expect(Buffer.from(await readAll(seeker, m)).equals(Buffer.from(await readAll(holder, m)))).toBe(true)
    expect(seeker.status().totals.bytesFromPeers).toBe(m.size)
  })
})
