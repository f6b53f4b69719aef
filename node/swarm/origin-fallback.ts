/**
 * The origin as a last resort (like a BitTorrent web seed): chunks a reader waits for
 * that no peer holds, or any missing chunk once peers have delivered nothing for a while,
 * fetched over HTTP and verified like a peer's. What to ask for is `originChunks`
 * (`schedule-policy.ts`).
 */
import { ORIGIN_FALLBACK_IDLE_MS } from '../node-constants.ts'
import type { ChunkWaiters } from './chunk-waiters.ts'
import type { ChunkIntake } from './intake.ts'
import { originChunks } from './schedule-policy.ts'
import type { RequestScheduler } from './scheduler.ts'
import type { Swarm } from './swarm.ts'
import type { SwarmComponents, SwarmInit, SwarmStats } from './swarm-types.ts'
import type { WebSeed } from './web-seed.ts'

/** What the fallback reads (and marks) of its swarm. */
export type FallbackSwarm = Pick<
  Swarm,
  | 'have'
  | 'manifest'
  | 'availability'
  | 'complete'
  | 'failure'
  | 'replicate'
  | 'stopped'
  | 'lastPeerProgressAt'
  | 'chunkLength'
  | 'sessions'
>

/** Live things an {@link OriginFallback} uses. */
export interface OriginFallbackComponents extends Pick<SwarmComponents, 'webSeed' | 'log' | 'totals'> {
  swarm: FallbackSwarm
  /** The swarm's own counters. */
  stats: SwarmStats
  readers: ChunkWaiters
  scheduler: RequestScheduler
  intake: ChunkIntake
  /** Chunks requested from peers right now. */
  inflight: ReadonlyMap<number, number>
  /** Chunks being fetched from the origin (kept here). */
  originInflight: Set<number>
  /** Received chunks being verified. */
  verifying: ReadonlySet<number>
  /** Aborted when the swarm stops. */
  signal: AbortSignal
}

/** Fetches what peers cannot give one swarm from the origin. */
export class OriginFallback {
  private readonly swarm: FallbackSwarm
  private readonly c: OriginFallbackComponents
  private readonly init: Pick<SwarmInit, 'fallbackIdleMs'>

  constructor(components: OriginFallbackComponents, init: Pick<SwarmInit, 'fallbackIdleMs'> = {}) {
    this.c = components
    this.swarm = components.swarm
    this.init = init
  }

  /** Starts origin fetches for what the swarm needs from it now, if anything. */
  fallBack(now: number): void {
    const web = this.c.webSeed
    const swarm = this.swarm
    // a failing origin is left alone until its backoff ends (the next tick looks again)
    if (web === undefined || swarm.complete || swarm.failure !== undefined || !web.available) return
    const peersQuietFor = now - swarm.lastPeerProgressAt
    const idleMs = this.init.fallbackIdleMs ?? ORIGIN_FALLBACK_IDLE_MS
    if (peersQuietFor < idleMs && this.c.readers.size === 0) return
    const priority = this.c.scheduler.priorityList()
    const chunks = originChunks(
      {
        have: swarm.have!,
        availability: swarm.availability,
        inflight: this.c.inflight,
        originInflight: this.c.originInflight,
        verifying: this.c.verifying,
        priority,
        unreachable: this.unreachable(priority, now),
        peersIdle: swarm.replicate && peersQuietFor >= idleMs,
      },
      Math.floor(Math.random() * swarm.have!.size),
    )
    for (const i of chunks) this.fetch(web, i)
  }

  /**
   * What readers wait for that only stalled (or lately refusing) peers hold. Such a peer is
   * "asked nothing for as long again", so counting it as a holder kept a streaming reader's
   * chunk from the origin for as long as that peer stayed connected: the read hung (while
   * replicating too, as long as other peers delivered other chunks). A few chunks per
   * reader, looked at once a tick.
   */
  private unreachable(priority: readonly number[], now: number): Set<number> | undefined {
    let out: Set<number> | undefined
    for (const i of priority) {
      if (this.swarm.availability[i] === 0) continue
      let askable = false
      for (const s of this.swarm.sessions.values()) {
        if (!s.closed && s.snubbedUntil <= now && s.bits?.has(i) === true) {
          askable = true
          break
        }
      }
      if (askable) continue
      out ??= new Set()
      out.add(i)
    }
    return out
  }

  private fetch(web: WebSeed, index: number): void {
    const swarm = this.swarm
    const m = swarm.manifest!
    this.c.originInflight.add(index)
    const length = swarm.chunkLength(index)
    const signal = this.c.signal
    web
      .chunk(m.chunks[index], length, { signal })
      .then(async (bytes) => {
        if (swarm.have!.has(index)) return
        try {
          await this.c.intake.put(m.chunks[index], bytes, { signal })
        } catch (err) {
          if ((err as Error).name === 'ChunkHashMismatchError') {
            this.c.stats.corruptChunks++
            this.c.totals.corruptChunks++
            web.verified(false)
            throw err
          }
          this.c.intake.fail(index, err as Error)
          return
        }
        web.verified(true)
        this.c.stats.bytesFromOrigin += length
        this.c.totals.bytesFromOrigin += length
        this.c.intake.markHave(index)
      })
      .catch((err: Error) => {
        if (!swarm.stopped) this.c.log('origin fetch of chunk %d failed: %s', index, err.message)
      })
      .finally(() => {
        this.c.originInflight.delete(index)
        if (!swarm.stopped) this.fallBack(performance.now())
      })
  }
}
