/**
 * Where this node is, and where its peers are, as the scheduler ranks them ("peers on the
 * same campus preferred over same city over others", `schedule-policy.ts`).
 *
 * A peer's hello claims a campus and a city; it may also show a statement of them signed by
 * a tracker (`node/membership.ts`). Once this node trusts a tracker (its `--tracker-id`, or
 * the tracker its agent was welcomed by), only such statements place a peer: signed by a
 * trusted tracker, about that stream's own PeerId, unexpired. A peer that only claims is
 * ranked with the others, whatever it says (a node elsewhere claiming the campus drew its
 * requests over the WAN). A node that trusts no tracker (no tracker configured: a lab, the
 * demo, a device) believes the claims, as before.
 *
 * Its own campus and city are the ones its statement gives, if it has one (the tracker
 * moves nodes between campuses), else its settings.
 */
import { checkMembership, type Membership, type SignedMembership } from '../membership.ts'
import type { Hello } from './codec.ts'

/** Statements checked, remembered by peer and signature (a peer opens a stream per swarm). */
const CHECKED_CACHE = 1024

/** Where a peer is, as far as this node believes. */
export interface PeerLocality {
  campus?: string
  city?: string
  /** A trusted tracker's statement says so (else it is the peer's claim, or nothing). */
  proven: boolean
}

/** Options of {@link Locality}. */
export interface LocalityInit {
  /** This node's PeerId: its own statement must name it. */
  peerId: string
  role: Hello['role']
  /** From the settings, until a statement says otherwise. */
  campus?: string
  city?: string
  /** Trackers whose statements are believed. @default none: peers' claims are believed */
  trustedTrackers?: Iterable<string>
  /** @default Date.now */
  now?: () => number
}

/** See the module comment. */
export class Locality {
  private readonly init: LocalityInit
  private readonly trusted: Set<string>
  private readonly now: () => number
  private own?: SignedMembership
  /** `${peer} ${sig}` → the statement believed, or null. */
  private readonly checked = new Map<string, Membership | null>()
  /**
   * Who this node is, as its hellos say: a live view (getters), so a swarm's hello always
   * tells the current statement and place.
   */
  readonly self: Omit<Hello, 'manifest' | 'v' | 'wantManifest'>

  constructor(init: LocalityInit) {
    this.init = init
    this.trusted = new Set(init.trustedTrackers ?? [])
    this.now = init.now ?? Date.now
    const locality = this
    this.self = {
      role: init.role,
      get campus() {
        return locality.place().campus
      },
      get city() {
        return locality.place().city
      },
      get member() {
        return locality.statement()
      },
    }
  }

  /** Whether peers' places are believed only on a trusted tracker's word. */
  get strict(): boolean {
    return this.trusted.size > 0
  }

  /** Believes statements signed by `trackerId` from now on. */
  trust(trackerId: string): void {
    if (this.trusted.has(trackerId)) return
    this.trusted.add(trackerId)
    this.checked.clear()
  }

  /**
   * Takes this node's own statement (from its agent, which checked it came from its
   * tracker): its tracker is trusted from then on. False, and nothing changes, if it is not
   * a valid statement about this node.
   */
  setMembership(signed: SignedMembership): boolean {
    const tracker = signed.m?.tracker
    const trusted = typeof tracker === 'string' ? new Set([...this.trusted, tracker]) : this.trusted
    const r = checkMembership(signed, { peerId: this.init.peerId, trusted, now: this.now() })
    if (!r.ok) return false
    this.trust(r.membership.tracker)
    this.own = r.signed
    return true
  }

  /** This node's statement while it holds. */
  statement(): SignedMembership | undefined {
    const own = this.own
    return own !== undefined && own.m.expiresAt > this.now() ? own : undefined
  }

  /** This node's campus and city: its statement's while it holds, else its settings'. */
  place(): { campus?: string; city?: string } {
    const m = this.statement()?.m
    return m === undefined
      ? { campus: this.init.campus, city: this.init.city }
      : { campus: m.campus, city: m.city }
  }

  /** Where `peer` is, from its hello (see the module comment). */
  of(peer: string, hello: Pick<Hello, 'campus' | 'city' | 'member'> | undefined): PeerLocality {
    if (hello === undefined) return { proven: false }
    const m = this.believe(peer, hello.member)
    if (m !== undefined) return { campus: m.campus, city: m.city, proven: true }
    return this.strict ? { proven: false } : { campus: hello.campus, city: hello.city, proven: false }
  }

  private believe(peer: string, signed: SignedMembership | undefined): Membership | undefined {
    if (signed === undefined || this.trusted.size === 0) return undefined
    const key = `${peer} ${signed.sig}`
    let m = this.checked.get(key)
    if (m === undefined) {
      const r = checkMembership(signed, { peerId: peer, trusted: this.trusted, now: this.now() })
      m = r.ok ? r.membership : null
      if (this.checked.size >= CHECKED_CACHE) this.checked.delete(this.checked.keys().next().value!)
      this.checked.set(key, m)
    }
    // believed once, until it expires
    return m !== null && m.expiresAt > this.now() ? m : undefined
  }
}
