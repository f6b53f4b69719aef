/**
 * Announces manifests on the DHT (`provide`, under their discovery key), a few at a time.
 *
 * kad-dht holds a query until its first self-query has found routing-table peers, so a
 * node that starts before it can reach any DHT peer queues its announcements rather than
 * losing them; the queue keeps a store full of manifests from starting them all at once.
 * An announcement can still end having reached no peer: when that wait outlasts
 * {@link PROVIDE_TIMEOUT_MS} (the campus link down at boot), or when the routing table
 * lists only peers that are gone. It is not done: the DHT would reprovide it only when the
 * local record nears expiry, a day later, and until then nobody could find this node's
 * content through the DHT. Such a manifest is announced again: 1 s later, doubling while
 * announcements keep reaching nobody, up to {@link ANNOUNCE_RETRY_MS}; back to 1 s when a
 * peer connects.
 */

import type { Logger } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { ANNOUNCE_RETRY_MS, PROVIDE_CONCURRENCY, PROVIDE_TIMEOUT_MS } from '../node-constants.ts'
import { discoveryKey } from './discovery-key.ts'
import type { Swarm } from './swarm.ts'

/** First retry after an announcement reached nobody, and after a peer connects (identify, routing table). */
const FIRST_RETRY_MS = 1000

export class Announcer {
  private readonly dht: KadDHT
  private readonly log: Logger
  /** Waiting to be announced, in join order; one entry per swarm. */
  private readonly queue = new Map<string, Swarm>()
  /** Announced to nobody so far: tried again later. */
  private readonly unheard = new Map<string, Swarm>()
  private running = 0
  private retryTimer?: ReturnType<typeof setTimeout>
  private retryAt = 0
  private retryDelay = FIRST_RETRY_MS
  private stopped = false

  constructor(dht: KadDHT, log: Logger) {
    this.dht = dht
    this.log = log
  }

  add(swarm: Swarm): void {
    this.unheard.delete(swarm.key)
    this.queue.set(swarm.key, swarm)
    this.next()
  }

  /** A peer connected: what nobody heard is announced again shortly. */
  peerConnected(): void {
    this.retryDelay = FIRST_RETRY_MS
    if (this.unheard.size > 0) this.retryIn(FIRST_RETRY_MS)
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.retryTimer)
    this.queue.clear()
    this.unheard.clear()
  }

  private next(): void {
    while (!this.stopped && this.running < PROVIDE_CONCURRENCY && this.queue.size > 0) {
      const [key, swarm] = this.queue.entries().next().value!
      this.queue.delete(key)
      if (swarm.stopped) continue
      this.running++
      this.announce(swarm)
        .then((peers) => {
          if (peers > 0 || swarm.stopped || this.stopped) return
          this.log('announcing %s reached no peer yet', key)
          this.unheard.set(key, swarm)
          this.retryIn(this.retryDelay)
        })
        .finally(() => {
          this.running--
          this.next()
        })
    }
  }

  /** Announces one manifest; resolves with how many peers took the provider record. */
  private async announce(swarm: Swarm): Promise<number> {
    let peers = 0
    try {
      for await (const e of this.dht.provide(await discoveryKey(swarm.cid), {
        signal: AbortSignal.timeout(PROVIDE_TIMEOUT_MS),
      })) {
        if (e.name === 'PEER_RESPONSE' && e.messageName === 'ADD_PROVIDER') peers++
      }
    } catch (err) {
      this.log('provide %s failed: %s', swarm.key, (err as Error).message)
    }
    return peers
  }

  /** Moves what nobody heard back to the queue in `ms` (the earlier of two requests wins). */
  private retryIn(ms: number): void {
    if (this.stopped) return
    const at = Date.now() + ms
    if (this.retryTimer !== undefined && this.retryAt <= at) return
    clearTimeout(this.retryTimer)
    this.retryAt = at
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.retryDelay = Math.min(this.retryDelay * 2, ANNOUNCE_RETRY_MS)
      for (const [key, swarm] of this.unheard) this.queue.set(key, swarm)
      this.unheard.clear()
      this.next()
    }, ms)
    this.retryTimer.unref?.()
  }
}
