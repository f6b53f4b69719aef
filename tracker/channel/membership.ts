/**
 * Campus membership statements on the channel (`node/membership.ts`): the tracker states
 * where the inventory puts each connected node (campus, and the campus's city) and signs it
 * with its key, for the node to show its peers. Sent only to nodes whose hello named the
 * `membership` feature (an older agent drops the connection on a frame type it does not
 * know): in the welcome, then in a `membership` frame when the inventory moved the node (its
 * campus, or its campus's city) or the last statement is {@link MEMBERSHIP_REFRESH_AFTER_MS}
 * old, well before it expires (`MEMBERSHIP_TTL_MS`, 7 days).
 *
 * A move is noticed by a check every {@link MEMBERSHIP_CHECK_INTERVAL_MS}: the inventory
 * announces no change the channel could listen to, and the check is cheap (two map reads per
 * connected node, a signature only for those due, at most {@link MEMBERSHIP_MAX_PER_CHECK}).
 * It reads what is on disk (`state.committed`): a statement never names a campus a failed
 * write may yet take back.
 */
import type { Membership, MembershipSigner, SignedMembership } from '../../node/membership.ts'
import type { Inventory } from '../state/index.ts'

/** How often the channel checks its nodes' statements against the inventory. */
export const MEMBERSHIP_CHECK_INTERVAL_MS = 10_000
/** A statement this old is replaced by a new one (they hold 7 days: a node away 6 days still has one). */
export const MEMBERSHIP_REFRESH_AFTER_MS = 24 * 3600_000
/**
 * Most statements one check signs (~50 µs each): 5,000 nodes connected at once after a
 * restart are all due a day later; the rest go out at the next checks.
 */
export const MEMBERSHIP_MAX_PER_CHECK = 500

/** What a node was last stated to be. */
export type Stated = Pick<Membership, 'campus' | 'city' | 'issuedAt'>

/** A connected node that named the feature, as the channel holds it. */
export interface MembershipSession {
  nodeId: string
  /** The PeerId its hello proved. */
  peerId: string
  /** Its last statement; undefined until one was sent. */
  stated?: Stated
}

/** Components of {@link MembershipIssuer}. */
export interface MembershipIssuerComponents {
  /** The inventory as on disk (`TrackerState.committed.inventory`). */
  inventory: () => Inventory
  signer: MembershipSigner
}

/** Options of {@link MembershipIssuer}. */
export interface MembershipIssuerInit {
  /** @default 86400000 (a day, {@link MEMBERSHIP_REFRESH_AFTER_MS}) */
  refreshAfterMs?: number
  /** @default 500 ({@link MEMBERSHIP_MAX_PER_CHECK}) */
  maxPerCheck?: number
}

/** See the module comment. */
export class MembershipIssuer {
  private readonly inventory: () => Inventory
  private readonly signer: MembershipSigner
  private readonly refreshAfterMs: number
  private readonly maxPerCheck: number

  constructor(components: MembershipIssuerComponents, init: MembershipIssuerInit = {}) {
    this.inventory = components.inventory
    this.signer = components.signer
    this.refreshAfterMs = init.refreshAfterMs ?? MEMBERSHIP_REFRESH_AFTER_MS
    this.maxPerCheck = init.maxPerCheck ?? MEMBERSHIP_MAX_PER_CHECK
  }

  /**
   * A new statement for `s`, recorded as its last; undefined when the inventory on disk has
   * no such node bound to its PeerId (deleted, or enrolled again with another key: the
   * channel drops it).
   */
  issue(s: MembershipSession, now = Date.now()): SignedMembership | undefined {
    const inv = this.inventory()
    const node = inv.nodes.get(s.nodeId)
    if (node?.peerId !== s.peerId) return undefined
    const signed = this.signer.sign(
      { peerId: s.peerId, nodeId: s.nodeId, campus: node.campus, city: inv.cityOf(node) },
      now,
    )
    s.stated = { campus: signed.m.campus, city: signed.m.city, issuedAt: signed.m.issuedAt }
    return signed
  }

  /**
   * New statements for the sessions whose last one no longer says what the inventory does,
   * or is a day old; at most `maxPerCheck` (the others are due at the next check).
   */
  *due(
    sessions: Iterable<MembershipSession>,
    now = Date.now(),
  ): Generator<[MembershipSession, SignedMembership]> {
    const inv = this.inventory()
    let signed = 0
    for (const s of sessions) {
      if (signed >= this.maxPerCheck) return
      const node = inv.nodes.get(s.nodeId)
      if (node?.peerId !== s.peerId) continue
      const last = s.stated
      if (
        last !== undefined &&
        last.campus === node.campus &&
        last.city === inv.cityOf(node) &&
        now - last.issuedAt < this.refreshAfterMs
      )
        continue
      const m = this.issue(s, now)
      if (m === undefined) continue
      signed++
      yield [s, m]
    }
  }
}
