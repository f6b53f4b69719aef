/**
 * Super-seeding (the idea of BitTorrent's BEP 16) for the origin's node. The origin's
 * upload is the scarcest link of a campus swarm, so every byte it sends twice costs the
 * whole swarm: it advertises nothing, offers each peer a few chunks nobody has yet (one
 * HAVE each), serves only what it offered, and offers the next chunk as soon as one is
 * sent. A chunk is offered again only if no peer announces it within a while (its
 * receiver died). Origin egress therefore stays close to one copy of the file.
 *
 * An offer a peer does not take is withdrawn: at once when the peer announces the chunk
 * (it got it from another peer), and after a stall period when the peer asks for nothing
 * (a node only streaming asks only for what its readers need; a peer that stopped). Before,
 * both kept the chunk offered to that peer, and to nobody else, for as long as it stayed:
 * two such offers and the peer was offered nothing more, and a chunk offered to a peer
 * that never asked reached the swarm only through the origin's HTTP fallback, or never.
 */
import {
  PEER_STALL_MS,
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
  /** When each chunk was last offered. */
  private readonly offeredAt: Float64Array
  /** The peer whose offer of each chunk last went untaken: offered it again only when nothing else is left. */
  private readonly declinedBy: Array<PeerSession | undefined>
  private readonly offeredAnywhere = new Set<number>()
  private cursor = 0
  private readonly offersPerPeer: number
  private readonly reofferMs: number
  private readonly offerTimeoutMs: number

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
    init: { offersPerPeer?: number; reofferMs?: number; extraRatio?: number; offerTimeoutMs?: number } = {},
  ) {
    this.state = state
    this.sentAt = new Float64Array(state.size)
    this.sentTo = new Array(state.size)
    this.offeredAt = new Float64Array(state.size)
    this.declinedBy = new Array(state.size)
    this.extraCopies = Math.floor(state.size * (init.extraRatio ?? SUPER_SEED_EXTRA_RATIO))
    this.offersPerPeer = init.offersPerPeer ?? SUPER_SEED_OFFERS_PER_PEER
    this.reofferMs = init.reofferMs ?? SUPER_SEED_REOFFER_MS
    this.offerTimeoutMs = init.offerTimeoutMs ?? PEER_STALL_MS
  }

  /**
   * Whether `session` may be sent chunk `index`: only what it was offered, or an offer it
   * let go untaken that nobody was sent since (its request may have waited behind a
   * download limit: serving it costs no second copy).
   */
  mayServe(session: PeerSession, index: number): boolean {
    return session.offered.has(index) || (this.declinedBy[index] === session && this.sentAt[index] === 0)
  }

  /** Records a chunk handed to a peer and offers that peer the next one. */
  sent(session: PeerSession, index: number): void {
    // a late request for an offer it let go: whoever was offered the chunk since is offered
    // another, or both would ask for it and the origin send it twice
    const since: PeerSession[] = []
    if (!session.offered.has(index) && this.declinedBy[index] === session) {
      for (const s of this.state.sessions) {
        if (s === session || !s.offered.has(index)) continue
        this.withdraw(s, index)
        since.push(s)
      }
    }
    this.declinedBy[index] = undefined
    this.extraOffered.delete(index)
    session.offered.delete(index)
    this.offeredAnywhere.delete(index)
    this.sentAt[index] = performance.now()
    this.sentTo[index] = session
    this.offer(session)
    for (const s of since) this.offer(s, false)
  }

  /** Forgets a closed session's offers so they go to someone else. */
  closed(session: PeerSession): void {
    for (const i of session.offered) this.withdraw(session, i)
    this.offerAll()
  }

  /** The peer announced chunk `index` (HAVE): if it was offered it, it got it elsewhere. */
  announced(session: PeerSession, index: number): void {
    if (!session.offered.has(index)) return
    this.withdraw(session, index)
    this.offer(session)
  }

  /**
   * Tops up every session's offers (on a tick, when re-offers may have become due), after
   * withdrawing the offers of peers that asked for nothing for {@link offerTimeoutMs}.
   */
  offerAll(): void {
    const now = performance.now()
    for (const s of this.state.sessions) {
      // a peer with a request queued or being served is taking what it was offered
      if (s.offered.size === 0 || s.queuedUploads > 0 || s.servingUploads > 0) continue
      for (const i of s.offered) {
        if (now - this.offeredAt[i] < this.offerTimeoutMs) continue
        this.withdraw(s, i)
        this.declinedBy[i] = s
      }
    }
    // every other peer first, so a chunk one let go of goes to another when one can take it
    for (const s of this.state.sessions) if (!s.closed && s.hello !== undefined) this.offer(s, false)
    for (const s of this.state.sessions) if (!s.closed && s.hello !== undefined) this.offer(s)
  }

  /** Takes back an offer not taken, so the chunk can go to someone else. */
  private withdraw(session: PeerSession, index: number): void {
    session.offered.delete(index)
    this.offeredAnywhere.delete(index)
    // a second copy it never asked for goes back to the budget
    if (this.extraOffered.delete(index)) this.extraCopies++
  }

  /**
   * Tops up one session's offers; with `takeBack` false, never with a chunk it was offered
   * before and did not take.
   */
  offer(session: PeerSession, takeBack = true): void {
    // devices upload little: seed them only when no campus node is there to spread the chunk
    if (session.hello?.role === 'device' && this.hasUploader()) return
    while (!session.closed && session.offered.size < this.offersPerPeer) {
      const i = this.next(session, takeBack)
      if (i < 0) return
      session.offered.add(i)
      this.offeredAnywhere.add(i)
      this.offeredAt[i] = performance.now()
      session.sendIndex(FrameType.Have, i)
    }
  }

  private hasUploader(): boolean {
    for (const s of this.state.sessions)
      if (!s.closed && s.hello !== undefined && s.hello.role !== 'device') return true
    return false
  }

  private next(session: PeerSession, takeBack: boolean): number {
    const { size, availability } = this.state
    const holds = (i: number): boolean => session.bits?.has(i) === true
    // first pass: chunks never sent and held by nobody, in order; one this peer was offered
    // and did not take only when nothing else is left (it may just be slow to ask, under a
    // download limit), so another peer gets it first
    let declined = -1
    for (let n = 0; n < size; n++) {
      const i = (this.cursor + n) % size
      if (this.sentAt[i] === 0 && availability[i] === 0 && !this.offeredAnywhere.has(i) && !holds(i)) {
        if (this.declinedBy[i] === session) {
          if (declined < 0) declined = i
          continue
        }
        this.cursor = (i + 1) % size
        return i
      }
    }
    if (declined >= 0 && takeBack) return declined
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
