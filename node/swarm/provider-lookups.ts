/**
 * Provider lookups of the swarms that seek: who in the DHT holds a manifest, and sessions
 * opened to them. At most {@link FIND_PROVIDERS_CONCURRENCY} run at once.
 *
 * A swarm that seeks looks its providers up again: 1 s after a lookup ends, doubling up
 * to {@link RELOOKUP_MAX_MS}, while something waits on it (its manifest is still looked
 * up, or a fetch or a reader downloads: `Swarm.busy`; a lesson streamed once and left
 * partly held looks again when a reader comes back, not meanwhile). Before, it looked once,
 * when it first sought: a device that asked for a lesson before any campus node had
 * announced it (both booting, or the holder offline for a moment), or whose providers were
 * all unreachable then, never found the holder that came later, and its fetch hung until
 * its deadline while the DHT listed a peer holding the lesson (a device is a DHT client:
 * an announcing peer never dials it, so no connection brought the two together either).
 */
import type { Libp2p, Logger, PeerId } from '@libp2p/interface'
import {
  ANNOUNCE_RETRY_MS,
  FIND_PROVIDERS_CONCURRENCY,
  FIND_PROVIDERS_TIMEOUT_MS,
  MAX_PROVIDERS_PER_LOOKUP,
} from '../node-constants.ts'
import { withDeadline } from './deadline.ts'
import { discoveryKey } from './discovery-key.ts'
import type { Swarm } from './swarm.ts'

/** First provider lookup again after one ends, while the swarm still seeks. */
const FIRST_RELOOKUP_MS = 1000
/** Longest wait between provider lookups of a swarm that still seeks (the same as announcements'). */
const RELOOKUP_MAX_MS = ANNOUNCE_RETRY_MS

/** What {@link ProviderLookups} use: the host, and the network that opens sessions. */
export interface ProviderLookupsComponents {
  libp2p: Libp2p
  log: Logger
  /** Whether `swarm` is still joined to a running network: if not, its lookups end. */
  joined(swarm: Swarm): boolean
  /** Opens a session with a provider found, dialed already. */
  open(swarm: Swarm, peer: PeerId): void
}

/** The queue, the running lookups and the timers of the next ones. */
export class ProviderLookups {
  private readonly c: ProviderLookupsComponents
  /** Swarms waiting for a provider lookup, and how many run ({@link FIND_PROVIDERS_CONCURRENCY} at most). */
  private readonly queue = new Set<Swarm>()
  private running = 0
  /** Per seeking swarm: the next provider lookup's timer and delay (one entry per swarm). */
  private readonly relookups = new Map<Swarm, { timer?: ReturnType<typeof setTimeout>; delayMs: number }>()

  constructor(components: ProviderLookupsComponents) {
    this.c = components
  }

  /** Looks up `swarm`'s providers when a lookup is free, and again while it seeks. */
  add(swarm: Swarm): void {
    this.queue.add(swarm)
    this.next()
  }

  /** Forgets `swarm` (it left): no lookup is queued or planned for it any more. */
  forget(swarm: Swarm): void {
    clearTimeout(this.relookups.get(swarm)?.timer)
    this.relookups.delete(swarm)
    this.queue.delete(swarm)
  }

  /** Forgets every swarm; the lookups running end on their own. */
  stop(): void {
    this.queue.clear()
    for (const r of this.relookups.values()) clearTimeout(r.timer)
    this.relookups.clear()
  }

  /** Starts queued provider lookups while fewer than {@link FIND_PROVIDERS_CONCURRENCY} run. */
  private next(): void {
    for (const swarm of this.queue) {
      if (this.running >= FIND_PROVIDERS_CONCURRENCY) return
      this.queue.delete(swarm)
      if (swarm.stopped || swarm.complete) continue
      this.running++
      this.findProviders(swarm)
        .catch((err: Error) => this.c.log('findProviders %s: %s', swarm.key, err.message))
        .finally(() => {
          this.running--
          this.relookLater(swarm)
          this.next()
        })
    }
  }

  /** Whether `swarm` still seeks here: if not, its provider lookups end. */
  private stillSeeks(swarm: Swarm): boolean {
    return swarm.seeking && this.c.joined(swarm)
  }

  /**
   * Queues another provider lookup for `swarm` once its delay has passed, if it still seeks
   * then: a holder may have announced since, or come back (see the module comment).
   */
  private relookLater(swarm: Swarm): void {
    let r = this.relookups.get(swarm)
    if (!this.stillSeeks(swarm)) {
      clearTimeout(r?.timer)
      this.relookups.delete(swarm)
      return
    }
    if (r === undefined) {
      r = { delayMs: FIRST_RELOOKUP_MS }
      this.relookups.set(swarm, r)
    }
    if (r.timer !== undefined) return
    const entry = r
    entry.timer = setTimeout(() => {
      entry.timer = undefined
      entry.delayMs = Math.min(entry.delayMs * 2, RELOOKUP_MAX_MS)
      if (!this.stillSeeks(swarm)) {
        this.relookups.delete(swarm)
        return
      }
      // nobody waits on it now (left partly held), or it is at its cap of peers it would not
      // replace: no lookup now, but look at it again later
      if (!(swarm.busy || swarm.manifest === undefined) || !swarm.wantsPeer()) {
        this.relookLater(swarm)
        return
      }
      this.add(swarm)
    }, entry.delayMs)
    entry.timer.unref?.()
  }

  /** Asks the DHT who provides the swarm's manifest, and opens sessions to them. */
  private async findProviders(swarm: Swarm): Promise<void> {
    const { libp2p } = this.c
    let n = 0
    const signal = AbortSignal.timeout(FIND_PROVIDERS_TIMEOUT_MS)
    const key = await discoveryKey(swarm.cid)
    for await (const p of libp2p.contentRouting.findProviders(key, { signal })) {
      if (swarm.stopped || n++ >= MAX_PROVIDERS_PER_LOOKUP) break
      if (p.id.equals(libp2p.peerId) || swarm.sessions.has(p.id.toString())) continue
      withDeadline(10_000, async (signal) => await libp2p.dial(p.id, { signal }))
        .then(() => this.c.open(swarm, p.id))
        .catch((err: Error) => this.c.log('dial provider %p failed: %s', p.id, err.message))
    }
  }
}
