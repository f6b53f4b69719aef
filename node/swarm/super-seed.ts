/**
 * Super-seeding (the idea of BitTorrent's BEP 16) for the origin's node. The origin's
 * upload is the scarcest link of a campus swarm, so every byte it sends twice costs the
 * whole swarm: it advertises nothing, offers each peer a few chunks nobody has yet (one
 * HAVE each), serves only what it offered, and offers the next chunk as soon as one is
 * sent. A chunk is offered again only if no peer announces it within a while (its
 * receiver died). Origin egress therefore stays close to one copy of the file.
 */
import {
  SUPER_SEED_EXTRA_RATIO,
  SUPER_SEED_OFFERS_PER_PEER,
  SUPER_SEED_REOFFER_MS,
} from '../node-constants.ts'
import { FrameType } from './codec.ts'
import type { PeerSession } from './session.ts'

/** The swarm state a super-seeder reads. */
export interface SuperSeedState {
  size: number
  availability: Uint16Array
  sessions: Iterable<PeerSession>
}

/** Offer bookkeeping of one super-seeding swarm. */
export class SuperSeeder {
  private readonly state: SuperSeedState
  private readonly sentAt: Float64Array
  private readonly sentTo: Array<PeerSession | undefined>
  private readonly offeredAnywhere = new Set<number>()
  private cursor = 0
  private readonly offersPerPeer: number
  private readonly reofferMs: number

  /**
   * Second copies the origin may still offer to shorten the tail (see `next`): taken when
   * one is offered, not when it is sent, or every peer with a free offer slot at the tail
   * would be offered one at once (a 20-node bench run sent 6% twice against a 3% budget).
   */
  private extraCopies: number
  /** Chunks offered as a second copy and not yet sent (each offered to one peer at a time). */
  private readonly extraOffered = new Set<number>()

  constructor(
    state: SuperSeedState,
    init: { offersPerPeer?: number; reofferMs?: number; extraRatio?: number } = {},
  ) {
    this.state = state
    this.sentAt = new Float64Array(state.size)
    this.sentTo = new Array(state.size)
    this.extraCopies = Math.floor(state.size * (init.extraRatio ?? SUPER_SEED_EXTRA_RATIO))
    this.offersPerPeer = init.offersPerPeer ?? SUPER_SEED_OFFERS_PER_PEER
    this.reofferMs = init.reofferMs ?? SUPER_SEED_REOFFER_MS
  }

  /** Whether `session` may be sent chunk `index`: only what it was offered. */
  mayServe(session: PeerSession, index: number): boolean {
    return session.offered.has(index)
  }

  /** Records a chunk handed to a peer and offers that peer the next one. */
  sent(session: PeerSession, index: number): void {
    this.extraOffered.delete(index)
    session.offered.delete(index)
    this.offeredAnywhere.delete(index)
    this.sentAt[index] = performance.now()
    this.sentTo[index] = session
    this.offer(session)
  }

  /** Forgets a closed session's offers so they go to someone else. */
  closed(session: PeerSession): void {
    for (const i of session.offered) {
      this.offeredAnywhere.delete(i)
      // a second copy it never asked for goes back to the budget
      if (this.extraOffered.delete(i)) this.extraCopies++
    }
    session.offered.clear()
    this.offerAll()
  }

  /** Tops up every session's offers (on a tick, when re-offers may have become due). */
  offerAll(): void {
    for (const s of this.state.sessions) if (!s.closed && s.hello !== undefined) this.offer(s)
  }

  /** Tops up one session's offers. */
  offer(session: PeerSession): void {
    // devices upload little: seed them only when no campus node is there to spread the chunk
    if (session.hello?.role === 'device' && this.hasUploader()) return
    while (!session.closed && session.offered.size < this.offersPerPeer) {
      const i = this.next(session)
      if (i < 0) return
      session.offered.add(i)
      this.offeredAnywhere.add(i)
      session.sendIndex(FrameType.Have, i)
    }
  }

  private hasUploader(): boolean {
    for (const s of this.state.sessions)
      if (!s.closed && s.hello !== undefined && s.hello.role !== 'device') return true
    return false
  }

  private next(session: PeerSession): number {
    const { size, availability } = this.state
    const holds = (i: number): boolean => session.bits?.has(i) === true
    // first pass: chunks never sent and held by nobody, in order
    for (let n = 0; n < size; n++) {
      const i = (this.cursor + n) % size
      if (this.sentAt[i] === 0 && availability[i] === 0 && !this.offeredAnywhere.has(i) && !holds(i)) {
        this.cursor = (i + 1) % size
        return i
      }
    }
    // then: chunks sent that still nobody announces: at once if their receiver left, after
    // a long while if it is still there (it may have failed to store them)
    const now = performance.now()
    for (let i = 0; i < size; i++) {
      if (this.sentAt[i] === 0 || availability[i] !== 0 || this.offeredAnywhere.has(i) || holds(i)) continue
      const gone = this.sentTo[i]?.closed !== false
      if (now - this.sentAt[i] > (gone ? 0 : this.reofferMs)) return i
    }
    // last: once every chunk is out, the origin's upload would sit idle while the swarm
    // finishes; a small budget of second copies of the rarest chunks shortens that tail
    // (never the peer's own copy back to it: its HAVE may simply not have arrived yet)
    if (this.extraCopies <= 0) return -1
    let best = -1
    for (let i = 0; i < size; i++) {
      if (this.sentAt[i] === 0 || this.offeredAnywhere.has(i) || holds(i) || this.sentTo[i] === session)
        continue
      if (best < 0 || availability[i] < availability[best]) best = i
    }
    if (best >= 0) {
      this.extraCopies--
      this.extraOffered.add(best)
    }
    return best
  }
}
