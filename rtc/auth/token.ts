/**
 * Signed room tokens: `base64url(JSON claims) + '.' + base64url(HMAC-SHA256(secret, payload))`.
 * The signature is checked in constant time before the claims are trusted. Tokens are issued
 * with the current secret and verified against it and any previous ones the operator still
 * accepts, so a secret is rotated without refusing every token at once.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { TOKEN_TTL_MS } from '../constants.ts'
import { InvalidTokenError } from '../errors.ts'
import type { RoomKind } from '../room/types.ts'

/** Who may join a room and how. */
export type Role = 'teacher' | 'student' | 'parent'

/** What a token asserts. */
export interface TokenClaims {
  /** User id. */
  sub: string
  role: Role
  /** Room id. */
  room: string
  /** Expiry, ms since epoch. */
  exp: number
  /** Kind of room to create if it does not exist yet (only honoured for teachers). */
  kind?: RoomKind
}

const ROLES: ReadonlySet<string> = new Set(['teacher', 'student', 'parent'])
const KINDS: ReadonlySet<string> = new Set(['one-on-one', 'group', 'class'])
const ID = /^[A-Za-z0-9_.:-]{1,64}$/

function sign(secret: string, payload: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest()
}

/**
 * Whether `given` is the signature of `payload` by one of `secrets`. Every secret is tried, not
 * just up to the first match, so the time taken does not tell which secret signed it.
 */
function signedByAny(secrets: readonly string[], payload: string, given: Buffer): boolean {
  let ok = false
  for (const secret of secrets) {
    const expected = sign(secret, payload)
    if (given.length === expected.length && timingSafeEqual(given, expected)) ok = true
  }
  return ok
}

/** Issues a token for `claims`; `exp` defaults to now + {@link TOKEN_TTL_MS}. */
export function issueToken(
  secret: string,
  claims: Omit<TokenClaims, 'exp'> & { exp?: number },
  now = Date.now(),
): string {
  const full: TokenClaims = { ...claims, exp: claims.exp ?? now + TOKEN_TTL_MS }
  const payload = Buffer.from(JSON.stringify(full)).toString('base64url')
  return `${payload}.${sign(secret, payload).toString('base64url')}`
}

/**
 * Verifies a token and returns its claims; throws {@link InvalidTokenError} with the reason.
 * `secrets` is the current secret or a list of accepted ones (the current first, then the
 * previous ones during a rotation): a signature by any of them is valid.
 */
export function verifyToken(
  secrets: string | readonly string[],
  token: unknown,
  now = Date.now(),
): TokenClaims {
  if (typeof token !== 'string' || token.length === 0) throw new InvalidTokenError('missing token')
  if (token.length > 2048) throw new InvalidTokenError('token too long')
  const dot = token.indexOf('.')
  if (dot <= 0) throw new InvalidTokenError('malformed token')
  const payload = token.slice(0, dot)
  const given = Buffer.from(token.slice(dot + 1), 'base64url')
  if (!signedByAny(typeof secrets === 'string' ? [secrets] : secrets, payload, given)) {
    throw new InvalidTokenError('bad token signature')
  }
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  } catch {
    throw new InvalidTokenError('malformed token claims')
  }
  const c = claims as Partial<TokenClaims>
  if (
    typeof c !== 'object' ||
    c === null ||
    typeof c.sub !== 'string' ||
    !ID.test(c.sub) ||
    typeof c.room !== 'string' ||
    !ID.test(c.room) ||
    typeof c.role !== 'string' ||
    !ROLES.has(c.role) ||
    typeof c.exp !== 'number' ||
    (c.kind !== undefined && !KINDS.has(c.kind))
  ) {
    throw new InvalidTokenError('malformed token claims')
  }
  if (c.exp <= now) throw new InvalidTokenError('token expired')
  const out: TokenClaims = { sub: c.sub, role: c.role, room: c.room, exp: c.exp }
  if (c.kind !== undefined) out.kind = c.kind
  return out
}
