/**
 * The requests of one swarm to its peers: which chunks to ask which peer for (the policy
 * is `picker.ts` and `schedule-policy.ts`), what is in flight, and withdrawing requests
 * (endgame, a stalled peer, a failure). A request waits for the download bucket before
 * it is sent.
 */
import { MAX_QUEUED_REQUESTS_PER_PEER, SCHEDULER_TICK_MS } from '../node-constants.ts'
import type { ChunkWaiters } from './chunk-waiters.ts'
import { FrameType } from './codec.ts'
import { ProtocolError } from './errors.ts'
import { pickChunks } from './picker.ts'
import { playbackPriority, rankPeers, requestWindow } from './schedule-policy.ts'
import type { PeerSession } from './session.ts'
import type { Swarm } from './swarm.ts'
import type { SwarmComponents } from './swarm-types.ts'

/** What the scheduler reads of its swarm. */
export type ScheduledSwarm = Pick<
  Swarm,
  | 'have'
  | 'manifest'
  | 'availability'
  | 'sessions'
  | 'replicate'
  | 'stopped'
  | 'failure'
  | 'key'
  | 'stallMs'
  | 'chunkLength'
  | 'tick'
>

/** Live things a {@link RequestScheduler} uses. */
export interface RequestSchedulerComponents
  extends Pick<SwarmComponents, 'limiter' | 'log' | 'self' | 'placeOf'> {
  swarm: ScheduledSwarm
  /** Playback readers blocked on chunks: asked for first. */
  readers: ChunkWaiters
  /** Chunk index → how many peers it is requested from right now (kept here). */
  inflight: Map<number, number>
  /** Chunks being fetched from the origin (only read here). */
  originInflight: Set<number>
  /** Received chunks being verified and stored (only read here). */
  verifying: Set<number>
}

/** Turns the swarm's state into requests to its peers, one pass per turn of the event loop. */
export class RequestScheduler {
  private readonly swarm: ScheduledSwarm
  private readonly c: RequestSchedulerComponents
  private readonly readers: ChunkWaiters
  private readonly inflight: Map<number, number>
  private readonly originInflight: Set<number>
  private readonly verifying: Set<number>
  /**
   * Requests waiting for the download bucket (key: peer and chunk): a request released
   * before it was sent gives its bytes back to the bucket.
   */
  private readonly bookings = new Map<string, AbortController>()
  private scheduled = false
  private timer?: ReturnType<typeof setInterval>

  constructor(components: RequestSchedulerComponents) {
    this.c = components
    this.swarm = components.swarm
    this.readers = components.readers
    this.inflight = components.inflight
    this.originInflight = components.originInflight
    this.verifying = components.verifying
  }

  /** Calls the swarm's `tick` every {@link SCHEDULER_TICK_MS} (again from now, if it did already). */
  startTicking(): void {
    clearInterval(this.timer)
    this.timer = setInterval(() => this.swarm.tick(), SCHEDULER_TICK_MS)
    this.timer.unref?.()
  }

  /** Starts ticking unless it ticks already. */
  ensureTicking(): void {
    if (this.timer === undefined) this.startTicking()
  }

  /** No more ticks (everything is held, or the swarm stopped). */
  stopTicking(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Coalesces scheduling into one pass per turn of the event loop. */
  schedule(): void {
    if (this.scheduled || this.swarm.stopped) return
    this.scheduled = true
    // after this round of I/O: every frame that arrived together is handled by one pass
    setImmediate(() => {
      this.scheduled = false
      this.runScheduler()
    })
  }

  /** What playback readers need next, most urgent first. */
  priorityList(): number[] {
    return this.readers.size === 0 ? [] : playbackPriority(this.readers.blockedOn(), this.swarm.have!)
  }

  /** Cancels our request for chunk `index` from `session`; the chunk may still arrive, without fault. */
  withdraw(session: PeerSession, index: number): void {
    session.sendIndex(FrameType.Cancel, index)
    this.release(session, index)
    session.withdrew(index)
  }

  /** Forgets our request for chunk `index` from `session` (answered, refused, or the peer left). */
  release(session: PeerSession, index: number): void {
    if (!session.outstanding.delete(index)) return
    // not sent yet: its bytes go back to the download bucket
    const key = `${session.peer} ${index}`
    this.bookings.get(key)?.abort(new ProtocolError('request released'))
    this.bookings.delete(key)
    const n = (this.inflight.get(index) ?? 1) - 1
    if (n <= 0) this.inflight.delete(index)
    else this.inflight.set(index, n)
  }

  /** "per-peer timeouts": a peer that holds our requests and delivers nothing is stalled. */
  stalls(now: number): void {
    const stallMs = this.swarm.stallMs
    for (const s of this.swarm.sessions.values()) {
      if (s.outstanding.size > 0 && now - s.lastDeliveryAt > stallMs) {
        this.c.log('peer %s stalled in %s', s.peer, this.swarm.key)
        for (const i of [...s.outstanding.keys()]) this.withdraw(s, i)
        s.score -= 5
        s.snubbedUntil = now + stallMs
      }
    }
  }

  /** The swarm stopped: requests still waiting for the bucket are dropped. */
  stop(reason: unknown): void {
    for (const b of this.bookings.values()) b.abort(reason)
    this.bookings.clear()
  }

  private runScheduler(): void {
    const have = this.swarm.have
    if (have === undefined || have.complete || this.swarm.stopped || this.swarm.failure !== undefined) return
    const { chunkSize } = this.swarm.manifest!
    let missingIdle = 0
    for (let i = 0; i < have.size; i++) {
      if (!have.has(i) && !this.inflight.has(i) && !this.originInflight.has(i) && !this.verifying.has(i))
        missingIdle++
    }
    const state = {
      have,
      availability: this.swarm.availability,
      inflight: this.inflight,
      originInflight: this.originInflight,
      verifying: this.verifying,
      replicate: this.swarm.replicate,
      priority: this.priorityList(),
      missingIdle,
    }
    const now = performance.now()
    const placeOf = this.c.placeOf
    const ranked = rankPeers(
      this.swarm.sessions.values(),
      this.c.self,
      placeOf === undefined ? undefined : (s) => placeOf(s.peer, s.hello),
    )
    // a reader blocked on a chunk jumps the queue: ask the fastest peer holding it, whatever its
    // window, but never past what a peer queues (more is a flood to it: a class of players
    // blocked on one peer had the node's stream closed and scored down). The rest wait for
    // answers, each of which schedules again
    for (const pos of this.readers.blockedOn()) {
      if (have.has(pos) || this.inflight.has(pos) || this.verifying.has(pos) || this.originInflight.has(pos))
        continue
      let best: PeerSession | undefined
      for (const s of ranked) {
        if (s.closed || s.bits?.has(pos) !== true || s.outstanding.size >= MAX_QUEUED_REQUESTS_PER_PEER)
          continue
        if (best === undefined || s.rateBytesPerSecond > best.rateBytesPerSecond) best = s
      }
      if (best !== undefined) {
        if (this.request(best, pos, now)) state.missingIdle--
      }
    }
    for (const s of ranked) {
      if (s.closed || s.snubbedUntil > now || s.bits === undefined) continue
      const window = requestWindow(s.rateBytesPerSecond, chunkSize)
      for (const i of pickChunks(state, s, window - s.outstanding.size)) {
        if (this.request(s, i, now)) state.missingIdle--
      }
    }
  }

  /** Records and sends (once the download bucket allows) a request; returns whether the chunk was idle before. */
  private request(s: PeerSession, i: number, now: number): boolean {
    if (s.outstanding.size === 0) s.lastDeliveryAt = now
    s.outstanding.set(i, now)
    const wasIdle = !this.inflight.has(i)
    this.inflight.set(i, (this.inflight.get(i) ?? 0) + 1)
    const key = `${s.peer} ${i}`
    const booking = new AbortController()
    this.bookings.set(key, booking)
    this.c.limiter.download
      .take(this.swarm.chunkLength(i), { signal: booking.signal })
      .then(() => {
        if (s.outstanding.has(i)) s.sendIndex(FrameType.Request, i)
      })
      .catch(() => {})
      .finally(() => {
        if (this.bookings.get(key) === booking) this.bookings.delete(key)
      })
    return wasIdle
  }
}
