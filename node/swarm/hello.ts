/**
 * The hello of `/dandelion/swarm/1.0.0`: what a peer says about itself when it opens or
 * answers a swarm stream, and the check of its shape before anything acts on it.
 */
import { parseMembership, type SignedMembership } from '../membership.ts'
import { ProtocolError } from './errors.ts'

/** What a peer says about itself when it opens or answers a swarm stream. */
export interface Hello {
  /** Wire version; must equal ours. */
  v: number
  /** Manifest CID of the swarm. */
  manifest: string
  role: 'campus' | 'device' | 'origin'
  campus?: string
  city?: string
  /**
   * A tracker's signed statement of the sender's campus and city (`node/membership.ts`):
   * what a peer that trusts that tracker believes instead of `campus` and `city`.
   */
  member?: SignedMembership
  /** The sender asks for the manifest bytes. */
  wantManifest?: boolean
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads a hello frame's payload: JSON of the right shape, strings bounded.
 * @throws ProtocolError when it is not one
 */
export function parseHello(payload: Uint8Array): Hello {
  let raw: unknown
  try {
    raw = JSON.parse(decoder.decode(payload))
  } catch {
    throw new ProtocolError('hello is not JSON')
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new ProtocolError('hello must be an object')
  const h = raw as Record<string, unknown>
  const str = (v: unknown, max: number): boolean =>
    v === undefined || (typeof v === 'string' && v.length <= max)
  if (typeof h.v !== 'number' || typeof h.manifest !== 'string' || h.manifest.length > 200) {
    throw new ProtocolError('hello lacks version or manifest')
  }
  if (h.role !== 'campus' && h.role !== 'device' && h.role !== 'origin')
    throw new ProtocolError('hello has a bad role')
  if (!str(h.campus, 200) || !str(h.city, 200)) throw new ProtocolError('hello has a bad campus or city')
  if (h.wantManifest !== undefined && typeof h.wantManifest !== 'boolean')
    throw new ProtocolError('hello has a bad wantManifest')
  return {
    v: h.v,
    manifest: h.manifest,
    role: h.role,
    campus: h.campus as string | undefined,
    city: h.city as string | undefined,
    // one it cannot read proves nothing, and costs the peer nothing more: it is left out
    ...(h.member === undefined ? {} : { member: parseMembership(h.member) }),
    wantManifest: h.wantManifest as boolean | undefined,
  }
}
