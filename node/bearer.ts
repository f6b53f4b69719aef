/** `Authorization: Bearer <token>` checks shared by every service's HTTP API. */
import { safeEqual } from './safe-equal.ts'

/** The scheme is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER` and `Bearer` are one. */
const BEARER = /^bearer +(.*)$/i

/** What a request's `Authorization` header says: no bearer token (401), a wrong one (403), or the right one. */
export function bearerVerdict(header: string | undefined, token: string): 'missing' | 'wrong' | 'ok' {
  const m = header === undefined ? null : BEARER.exec(header)
  if (m === null) return 'missing'
  return safeEqual(m[1].trim(), token) ? 'ok' : 'wrong'
}
