/**
 * The peers of one swarm: sessions kept (one per peer, at most `maxPeers`; who makes
 * room is `peer-cap.ts`), greeted once the manifest is known, what each holds (bitfield,
 * HAVE, DONT_HAVE) and the availability of each chunk that follows from it.
 */
import { Bitfield } from './bitfield.ts'
import { ProtocolError } from './errors.ts'
import { worstReplaceable } from './peer-cap.ts'
import type { RequestScheduler } from './scheduler.ts'
import type { ChunkServer } from './server.ts'
import type { PeerSession } from './session.ts'
import type { Swarm } from './swarm.ts'
import type { SwarmComponents } from './swarm-types.ts'

/** What peer management reads of its swarm. */
export type PeeredSwarm = Pick<
  Swarm,
  | 'manifest'
  | 'have'
  | 'availability'
  | 'sessions'
  | 'seeking'
  | 'complete'
  | 'stopped'
  | 'key'
  | 'maxPeers'
  | 'stallMs'
>

/** Live things {@link SwarmPeers} uses. */
export interface SwarmPeersComponents extends Pick<SwarmComponents, 'log'> {
  swarm: PeeredSwarm
  scheduler: RequestScheduler
  /** The upload side (a super-seeder advertises and offers differently). */
  server: ChunkServer
}

/** Keeps one swarm's sessions and what their peers hold. */
export class SwarmPeers {
  private readonly swarm: PeeredSwarm
  private readonly c: SwarmPeersComponents
  private readonly scheduler: RequestScheduler

  constructor(components: SwarmPeersComponents) {
    this.c = components
    this.swarm = components.swarm
    this.scheduler = components.scheduler
  }

  /** Adds a session whose hello checked out; resolves duplicate streams between the same two peers. */
  add(session: PeerSession, local: string): boolean {
    const swarm = this.swarm
    if (swarm.stopped) return false
    const existing = swarm.sessions.get(session.peer)
    if (existing !== undefined && !existing.closed) {
      // both sides keep the stream dialled by the smaller peer id, so they agree without talking
      const dialer = (s: PeerSession): string => (s.stream.direction === 'outbound' ? local : s.peer)
      if (dialer(session) >= dialer(existing)) return false
      existing.close()
    }
    if (swarm.sessions.size >= swarm.maxPeers && !swarm.sessions.has(session.peer)) {
      if (!this.replaceWorst()) return false
    }
    swarm.sessions.set(session.peer, session)
    // a super-seeder holding everything stopped ticking while it had no peer (`Swarm.tick`)
    if (swarm.complete && this.c.server.superSeeder !== undefined) this.scheduler.ensureTicking()
    if (session.hello?.wantManifest === true && swarm.manifest !== undefined)
      session.sendManifest(swarm.manifest.bytes)
    if (swarm.manifest !== undefined) this.greet(session)
    return true
  }

  /** A session closed: its requests are released and what its peer held no longer counts. */
  closed(session: PeerSession): void {
    const swarm = this.swarm
    if (swarm.sessions.get(session.peer) === session) swarm.sessions.delete(session.peer)
    for (const i of [...session.outstanding.keys()]) this.scheduler.release(session, i)
    if (session.bits !== undefined) {
      for (let i = 0; i < session.bits.size; i++) if (session.bits.has(i)) swarm.availability[i]--
    }
    this.c.server.superSeeder?.closed(session)
    this.scheduler.schedule()
  }

  /** Tells a peer what we hold, once the manifest is known, and applies what it told us before. */
  greet(session: PeerSession): void {
    const swarm = this.swarm
    const m = swarm.manifest!
    session.setChunkLimit(m.chunkSize)
    // a super-seeder advertises nothing and offers chunks one by one instead
    const superSeeder = this.c.server.superSeeder
    session.sendBitfield(
      superSeeder === undefined ? swarm.have!.bytes : new Uint8Array(swarm.have!.bytes.byteLength),
    )
    if (session.pendingBits !== undefined) {
      const bits = session.pendingBits
      session.pendingBits = undefined
      try {
        this.applyBits(session, bits)
      } catch (err) {
        // a bitfield sent before the manifest was known, of the wrong length: that peer broke
        // the protocol; the others are greeted all the same
        session.offend(err as Error)
        return
      }
    }
    for (const i of session.pendingHaves.splice(0)) {
      session.bits ??= new Bitfield(swarm.availability.length)
      if (i < session.bits.size && session.bits.set(i)) swarm.availability[i]++
    }
    superSeeder?.offer(session)
    this.scheduler.schedule()
  }

  /** The peer's BITFIELD frame (one per session). */
  bitfield(session: PeerSession, raw: Uint8Array): void {
    if (session.bits !== undefined || session.pendingBits !== undefined)
      throw new ProtocolError('second bitfield')
    if (this.swarm.manifest === undefined) session.pendingBits = raw
    else this.applyBits(session, raw)
  }

  /** The peer's HAVE frame: it holds chunk `index` now. */
  have(session: PeerSession, index: number): void {
    const swarm = this.swarm
    if (swarm.manifest === undefined) {
      if (session.pendingHaves.length < 1024) session.pendingHaves.push(index)
      return
    }
    session.bits ??= new Bitfield(swarm.availability.length)
    if (session.bits.set(index)) swarm.availability[index]++
    // offered it by our super-seeder, it got it elsewhere: the offer goes to someone else
    this.c.server.superSeeder?.announced(session, index)
    // only a chunk we still miss can lead to a new request
    if (swarm.have?.has(index) === false) this.scheduler.schedule()
  }

  /** The peer's DONT_HAVE frame: it refused our request for chunk `index`. */
  dontHave(session: PeerSession, index: number): void {
    this.scheduler.release(session, index)
    if (session.bits?.has(index) === true) {
      session.bits.clear(index)
      this.swarm.availability[index]--
    }
    session.score -= 1
    session.snubbedUntil = performance.now() + 1000
    this.scheduler.schedule()
  }

  /**
   * Whether a session with one more peer would be kept: below the cap, or a peer in it
   * could be replaced (`peer-cap.ts`).
   */
  wanted(): boolean {
    if (this.swarm.sessions.size < this.swarm.maxPeers) return true
    return this.worstReplaceable() !== undefined
  }

  /** The peer a newcomer would replace, if any (`peer-cap.ts`). */
  private worstReplaceable(): PeerSession | undefined {
    const swarm = this.swarm
    return worstReplaceable(swarm.sessions.values(), {
      downloading: swarm.seeking,
      have: swarm.have,
      availability: swarm.availability,
      graceMs: swarm.stallMs,
      now: performance.now(),
    })
  }

  private replaceWorst(): boolean {
    const worst = this.worstReplaceable()
    if (worst === undefined) return false
    this.c.log(
      'replacing peer %s in %s (score %d, %d B/s)',
      worst.peer,
      this.swarm.key,
      worst.score,
      worst.rateBytesPerSecond,
    )
    worst.close()
    return true
  }

  private applyBits(session: PeerSession, raw: Uint8Array): void {
    const availability = this.swarm.availability
    const bits = new Bitfield(availability.length, raw)
    const previous = session.bits
    session.bits = bits
    for (let i = 0; i < bits.size; i++) {
      if (previous?.has(i) === true) bits.set(i)
      else if (bits.has(i)) availability[i]++
    }
    this.scheduler.schedule()
  }
}
