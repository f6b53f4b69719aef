/**
 * Upload grants: a signed, single-use permission to upload one file of bounded size as one
 * resource, so a device can upload without holding the origin's upload token (which can
 * publish anything under any name). The rtc server issues one per homework photo a teacher
 * asks a lamp for; the origin accepts grants signed by the issuers it is told to trust.
 *
 * Format: `dgrant1.<base64url(JSON claims)>.<base64url(ed25519 signature)>`, the signature
 * over a context string plus the encoded claims. The issuer is named by its PeerId (`iss`),
 * which carries its public key, so the origin is configured with that string only.
 */
import { createHash, randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { CONTENT_TYPES, type ContentType } from './content/index.ts'
import { Ed25519Signer, Ed25519Verifier } from './ed25519.ts'
import { DandelionError } from './errors.ts'

const PREFIX = 'dgrant1.'
const CONTEXT = 'dandelion/upload-grant/1\n'
/** Longer than any grant this module issues; a bearer past it is refused unparsed. */
const MAX_GRANT_CHARS = 2048

/** What a grant permits. */
export interface UploadGrantClaims {
  /** The issuer's PeerId. */
  iss: string
  /** Unique id of this grant: it can create one upload. */
  jti: string
  /** The resource name the upload must carry. */
  name: string
  /** The content type the upload must carry. */
  type: ContentType
  /** Largest upload length allowed, bytes. */
  max: number
  /** Expiry, ms since epoch. */
  exp: number
}

/** A grant is malformed, not signed by a trusted issuer, or expired. */
export class InvalidGrantError extends DandelionError {
  override name = 'InvalidGrantError'
  constructor(message: string) {
    super(message, 'ERR_INVALID_GRANT')
  }
}

/** True if `bearer` has the shape of an upload grant (not that it is valid). */
export function isUploadGrant(bearer: string): boolean {
  return bearer.startsWith(PREFIX)
}

/** The upload id a grant's upload gets: one per grant, so a grant is used once. */
export function grantUploadId(jti: string): string {
  return createHash('sha256').update(`upload-grant\n${jti}`).digest('hex').slice(0, 32)
}

/** Issues grants signed with one ed25519 key. */
export class UploadGrantIssuer {
  /** The issuer's PeerId: what an origin is told to trust (`--grant-issuer`). */
  readonly id: string
  private readonly signer: Ed25519Signer

  /** @throws InvalidConfigError if the key is not ed25519 */
  constructor(privateKey: PrivateKey) {
    this.signer = new Ed25519Signer(privateKey, 'the upload grant key')
    this.id = this.signer.id
  }

  /** A grant to upload at most `max` bytes as resource `name` of `type`, valid for `ttlMs`. */
  issue(scope: { name: string; type: ContentType; max: number; ttlMs: number }, now = Date.now()): string {
    const claims: UploadGrantClaims = {
      iss: this.id,
      jti: randomBytes(16).toString('base64url'),
      name: scope.name,
      type: scope.type,
      max: scope.max,
      exp: now + scope.ttlMs,
    }
    const payload = Buffer.from(JSON.stringify(claims)).toString('base64url')
    return `${PREFIX}${payload}.${this.signer.sign(Buffer.from(CONTEXT + payload))}`
  }
}

/** Checks grants against the issuers an origin trusts. */
export class UploadGrantVerifier {
  private readonly issuers: Map<string, Ed25519Verifier>

  /** @throws InvalidConfigError if an issuer is not an ed25519 PeerId */
  constructor(issuers: readonly string[]) {
    this.issuers = new Map(
      issuers.map((id) => [
        id,
        new Ed25519Verifier(id, 'grant issuer', 'the id the rtc server prints at start'),
      ]),
    )
  }

  /** Whether any issuer is trusted (with none, every grant is refused). */
  get size(): number {
    return this.issuers.size
  }

  /**
   * Returns the claims of a valid grant.
   * @throws InvalidGrantError saying what is wrong: malformed, untrusted issuer, bad signature, expired
   */
  verify(grant: string, now = Date.now()): UploadGrantClaims {
    if (!isUploadGrant(grant) || grant.length > MAX_GRANT_CHARS)
      throw new InvalidGrantError('malformed upload grant')
    const body = grant.slice(PREFIX.length)
    const dot = body.indexOf('.')
    if (dot <= 0) throw new InvalidGrantError('malformed upload grant')
    const payload = body.slice(0, dot)
    const claims = parseClaims(payload)
    const issuer = this.issuers.get(claims.iss)
    if (issuer === undefined)
      throw new InvalidGrantError(`upload grant issuer ${claims.iss} is not trusted here`)
    if (!issuer.verify(Buffer.from(CONTEXT + payload), body.slice(dot + 1)))
      throw new InvalidGrantError('upload grant signature does not verify')
    if (claims.exp <= now) throw new InvalidGrantError('upload grant expired')
    return claims
  }
}

function parseClaims(payload: string): UploadGrantClaims {
  let c: Partial<Record<keyof UploadGrantClaims, unknown>>
  try {
    c = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  } catch {
    throw new InvalidGrantError('malformed upload grant claims')
  }
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.iss !== 'string' ||
    typeof c.jti !== 'string' ||
    c.jti.length === 0 ||
    typeof c.name !== 'string' ||
    typeof c.type !== 'string' ||
    !(CONTENT_TYPES as readonly string[]).includes(c.type) ||
    !Number.isSafeInteger(c.max) ||
    (c.max as number) < 0 ||
    typeof c.exp !== 'number'
  ) {
    throw new InvalidGrantError('malformed upload grant claims')
  }
  return {
    iss: c.iss,
    jti: c.jti,
    name: c.name,
    type: c.type as ContentType,
    max: c.max as number,
    exp: c.exp,
  }
}
