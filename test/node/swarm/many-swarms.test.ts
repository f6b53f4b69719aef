import { afterEach, describe, expect, it } from 'vitest'
import type { Manifest } from '../../../node/content/index.ts'
import type { DandelionNode } from '../../../node/index.ts'
import {
  FIND_PROVIDERS_CONCURRENCY,
  MAX_SWARMS,
  PROVIDE_CONCURRENCY,
  SWARM_PROTOCOL,
} from '../../../node/node-constants.ts'
import { discoveryKey } from '../../../node/swarm/discovery-key.ts'
import { addContent, Harness, originKey, randomContent, readAll, until } from '../utils/harness.ts'

/** Open swarm streams on the connection from `a` to `b`. */
function swarmStreams(a: DandelionNode, b: DandelionNode): number {
  return a.libp2p
    .getConnections(b.peerId)
    .flatMap((c) => c.streams)
    .filter((s) => s.protocol === SWARM_PROTOCOL).length
}

/** Whether `a` identified `b` (knows it speaks the swarm protocol). */
async function knows(a: DandelionNode, b: DandelionNode): Promise<boolean> {
  try {
    return (await a.libp2p.peerStore.get(b.peerId)).protocols.includes(SWARM_PROTOCOL)
  } catch {
    return false
  }
}

/** Peers in the routing table of `node`'s DHT (the service's own count; not on its interface). */
function routingTableSize(node: DandelionNode): number {
  return (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

describe('a node holding a school year of content', () => {
  const h = new Harness()
  afterEach(async () => await h.teardown())

  it('seeds more manifests than it may download at once, opens no streams between full nodes, and still places new content', async () => {
    const key = await originKey()
    const [a, b] = [await h.spawn(), await h.spawn()]
    const held = []
    for (let i = 0; i < MAX_SWARMS + 8; i++) {
      const m = await addContent(a.store, randomContent(4096), key, { name: `lesson-${i}` })
      await addContent(b.store, new Uint8Array(await readAll(a, m)), key, { name: `lesson-${i}` })
      await a.seed(m)
      await b.seed(m)
      held.push(m)
    }
    await h.connect(a, b)
    // both hold everything: nothing to swap, so neither opens a stream per lesson. Streams
    // would open on connect or after identify: wait for identify both ways, then a ping
    // each way, so any stream opened before would be on the connection by now
    await until(async () => (await knows(a, b)) && (await knows(b, a)))
    await a.libp2p.services.ping.ping(b.peerId)
    await b.libp2p.services.ping.ping(a.peerId)
    expect(swarmStreams(a, b) + swarmStreams(b, a)).toBe(0)

    // a new lesson still goes out, beyond MAX_SWARMS swarms, and only its own swarm talks
    const fresh = await addContent(a.store, randomContent(300_000), key, { name: 'new' })
    await a.seed(fresh)
    await b.fetch(fresh.cid)
    expect(Buffer.from(await readAll(b, fresh)).equals(Buffer.from(await readAll(a, fresh)))).toBe(true)
    expect(swarmStreams(b, a)).toBe(1)
    expect(a.status().swarms).toHaveLength(MAX_SWARMS + 9)

    // a node that misses an old lesson reaches out for it and is answered
    const c = await h.spawn()
    await h.connect(c, a)
    await c.fetch(held[0].cid)
    await until(() => swarmStreams(c, a) === 1)
    expect(c.status().totals.bytesFromPeers).toBe(held[0].size)
  })

  it('announces a store full of manifests on the DHT a few at a time, and again to a new DHT peer when nobody heard them', async () => {
    const key = await originKey()
    const gone = await h.spawn({ dht: true })
    const a = await h.spawn({ dht: true })
    await h.connect(a, gone)
    // identify tells a that gone speaks the DHT protocol: only then does its routing table hold it
    await until(() => routingTableSize(a) > 0)
    await gone.stop() // the only DHT peer goes away; a's routing table still lists it
    let running = 0
    let most = 0
    let unheard = 0 // announcements that finished having reached nobody
    const reached = new Map<string, number>() // DHT key → peers sent its provider record
    const dht = a.libp2p.services.dht!
    const provide = dht.provide.bind(dht)
    dht.provide = async function* (cid, options) {
      most = Math.max(most, ++running)
      let heard = false
      try {
        for await (const e of provide(cid, options)) {
          if (e.name === 'PEER_RESPONSE' && e.messageName === 'ADD_PROVIDER') {
            heard = true
            reached.set(cid.toString(), (reached.get(cid.toString()) ?? 0) + 1)
          }
          yield e
        }
      } finally {
        running--
        if (!heard) unheard++
      }
    }
    const held: Manifest[] = []
    for (let i = 0; i < 40; i++) {
      const m = await addContent(a.store, randomContent(1024), key, { name: `lesson-${i}` })
      await a.seed(m)
      held.push(m)
    }
    await until(() => unheard >= held.length)
    expect(reached.size).toBe(0)

    // a new DHT peer: every announcement nobody heard is made again, and reaches it
    const fresh = await h.spawn({ dht: true })
    await h.connect(a, fresh)
    const keys = await Promise.all(held.map(async (m) => (await discoveryKey(m.cid)).toString()))
    await until(() => keys.every((k) => (reached.get(k) ?? 0) > 0))
    expect(most).toBeLessThanOrEqual(PROVIDE_CONCURRENCY)
  })

  it('fetches many lessons at once from a peer that connects afterwards (yamux resets a peer opening over 10 streams before it acknowledged one)', async () => {
    const key = await originKey()
    const seeder = await h.spawn({ dht: true })
    const lessons: Manifest[] = []
    for (let i = 0; i < 40; i++) {
      const m = await addContent(seeder.store, randomContent(64 * 1024), key, { name: `lesson-${i}` })
      await seeder.seed(m)
      lessons.push(m)
    }
    const leecher = await h.spawn({ dht: true })
    // provider lookups run a few at a time (a DHT peer refuses past 32 at once)
    let running = 0
    let most = 0
    const routing = leecher.libp2p.contentRouting
    const findProviders = routing.findProviders.bind(routing)
    routing.findProviders = async function* (cid, options) {
      most = Math.max(most, ++running)
      try {
        yield* findProviders(cid, options)
      } finally {
        running--
      }
    }
    const fetches = lessons.map((m) => leecher.fetch(m.cid, { signal: AbortSignal.timeout(30_000) }))
    // all 40 swarms are seeking (looking for their manifests) when the peer connects
    await until(() => leecher.status().swarms.length === lessons.length)
    await h.connect(leecher, seeder)
    await Promise.all(fetches)
    expect(most).toBeGreaterThan(0)
    expect(most).toBeLessThanOrEqual(FIND_PROVIDERS_CONCURRENCY)
    expect(leecher.libp2p.getConnections(seeder.peerId)).not.toHaveLength(0)
    for (const m of lessons.slice(0, 3))
      expect(Buffer.from(await readAll(leecher, m)).equals(Buffer.from(await readAll(seeder, m)))).toBe(true)
  })
})
