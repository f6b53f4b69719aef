/**
 * Campus membership, proven. A node's swarm hello says which campus and city it belongs to,
 * and the scheduler asks peers of its own campus first, then of its city: a claim anyone
 * could make, so a peer elsewhere (misconfigured, or on purpose) saying it was on a campus
 * drew that campus's requests over the WAN, and a node the tracker had moved to another
 * campus went on claiming the old one.
 *
 * The tracker knows where each node is (its inventory), so it signs a statement of it for
 * the node, on the node's authenticated channel: PeerId, node id, campus, city, when it was
 * issued and until when it holds. The node shows it in its swarm hellos; a peer that trusts
 * that tracker checks it against the stream's own PeerId and believes the campus and city in
 * it, not the ones claimed (`node/swarm/locality.ts`).
 *
 * Signed with the tracker's ed25519 key (the one nodes pin as `--tracker-id`), over bytes of
 * their own context, so a welcome or command signature can never pass for one.
 */
import { type Ed25519Signer, Ed25519Verifier, isEd25519PeerId } from './ed25519.ts'

/** How long a statement holds: the tracker sends a fresh one well before (see the tracker's channel). */
export const MEMBERSHIP_TTL_MS = 7 * 24 * 3600_000
/** Longest campus, city or node id a statement carries (as the tracker's inventory allows). */
const MAX_FIELD_CHARS = 128
/** Largest statement accepted, as JSON text. */
export const MAX_MEMBERSHIP_JSON_CHARS = 1536
/** Clock skew tolerated between the tracker and a node checking its statement. */
const SKEW_MS = 10 * 60_000

const CONTEXT = 'dandelion/membership/1\n'

/** What the tracker states of a node. */
export interface Membership {
  /** The node's PeerId: the statement holds only on that peer's streams. */
  peerId: string
  nodeId: string
  campus?: string
  city?: string
  /** The tracker's PeerId (its key signs the statement). */
  tracker: string
  /** Epoch ms. */
  issuedAt: number
  /** Epoch ms: not believed after. */
  expiresAt: number
}

/** A statement and the tracker's signature of it (base64url). */
export interface SignedMembership {
  m: Membership
  sig: string
}

const bytesOf = (m: Membership): Buffer =>
  Buffer.from(
    `${CONTEXT}${JSON.stringify([m.peerId, m.nodeId, m.campus ?? null, m.city ?? null, m.tracker, m.issuedAt, m.expiresAt])}`,
  )

/** Signs statements with the tracker's key. */
export class MembershipSigner {
  readonly tracker: string
  private readonly signer: Ed25519Signer

  constructor(signer: Ed25519Signer) {
    this.signer = signer
    this.tracker = signer.id
  }

  /** A statement for `node`, valid for {@link MEMBERSHIP_TTL_MS} from `now`. */
  sign(
    node: { peerId: string; nodeId: string; campus?: string; city?: string },
    now = Date.now(),
  ): SignedMembership {
    const m: Membership = {
      peerId: node.peerId,
      nodeId: node.nodeId,
      ...(node.campus === undefined ? {} : { campus: node.campus }),
      ...(node.city === undefined ? {} : { city: node.city }),
      tracker: this.tracker,
      issuedAt: now,
      expiresAt: now + MEMBERSHIP_TTL_MS,
    }
    return { m, sig: this.signer.sign(bytesOf(m)) }
  }
}

const isField = (v: unknown): boolean =>
  v === undefined || (typeof v === 'string' && v.length > 0 && v.length <= MAX_FIELD_CHARS)
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0

/**
 * Shape-checks a statement as it came off the wire (a hello, a tracker frame, a file):
 * the statement, typed, or undefined for anything else. Says nothing of its signature.
 */
export function parseMembership(value: unknown): SignedMembership | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const { m, sig } = value as { m?: unknown; sig?: unknown }
  if (typeof sig !== 'string' || sig.length > 128) return undefined
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined
  const r = m as Record<string, unknown>
  if (typeof r.peerId !== 'string' || r.peerId.length > MAX_FIELD_CHARS) return undefined
  if (typeof r.tracker !== 'string' || r.tracker.length > MAX_FIELD_CHARS) return undefined
  if (typeof r.nodeId !== 'string' || !isField(r.nodeId) || !isField(r.campus) || !isField(r.city))
    return undefined
  if (!isTime(r.issuedAt) || !isTime(r.expiresAt) || r.expiresAt < r.issuedAt) return undefined
  const out: Membership = {
    peerId: r.peerId,
    nodeId: r.nodeId,
    ...(r.campus === undefined ? {} : { campus: r.campus as string }),
    ...(r.city === undefined ? {} : { city: r.city as string }),
    tracker: r.tracker,
    issuedAt: r.issuedAt,
    expiresAt: r.expiresAt,
  }
  return { m: out, sig }
}

/** Why a statement is not believed. */
export type MembershipRejection = 'malformed' | 'other-peer' | 'untrusted' | 'expired' | 'bad-signature'

/** What {@link checkMembership} checks a statement against. */
export interface MembershipCheck {
  /** The PeerId of the stream (or of this node) it must name. */
  peerId: string
  /** PeerIds of the trackers whose statements are believed. */
  trusted: ReadonlySet<string>
  /** @default Date.now() */
  now?: number
}

/** Verifiers by tracker PeerId: building one parses the key, a statement is checked per hello. */
const verifiers = new Map<string, Ed25519Verifier>()

function verifierOf(tracker: string): Ed25519Verifier | undefined {
  let v = verifiers.get(tracker)
  if (v === undefined) {
    if (!isEd25519PeerId(tracker)) return undefined
    v = new Ed25519Verifier(tracker, 'tracker id')
    // a handful of trackers per deployment; bounded all the same
    if (verifiers.size >= 64) verifiers.clear()
    verifiers.set(tracker, v)
  }
  return v
}

/**
 * The statement in `value` if it is believed: well formed, about `check.peerId`, signed by
 * a trusted tracker, issued no later than now (give or take the clock skew) and not expired.
 * Otherwise why not.
 */
export function checkMembership(
  value: unknown,
  check: MembershipCheck,
): { ok: true; membership: Membership; signed: SignedMembership } | { ok: false; why: MembershipRejection } {
  const signed = parseMembership(value)
  if (signed === undefined) return { ok: false, why: 'malformed' }
  const { m } = signed
  if (m.peerId !== check.peerId) return { ok: false, why: 'other-peer' }
  if (!check.trusted.has(m.tracker)) return { ok: false, why: 'untrusted' }
  const now = check.now ?? Date.now()
  if (m.expiresAt <= now || m.issuedAt > now + SKEW_MS) return { ok: false, why: 'expired' }
  const v = verifierOf(m.tracker)
  if (v === undefined || !v.verify(bytesOf(m), signed.sig)) return { ok: false, why: 'bad-signature' }
  return { ok: true, membership: m, signed }
}
