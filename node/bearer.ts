/** `Authorization: Bearer <token>` checks shared by every service's HTTP API. */
import { safeEqual } from './safe-equal.ts'

/** The scheme is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER` and `Bearer` are one. */
const BEARER = /^bearer +(.*)$/i

/** The bearer token of an `Authorization` header, if it has one. */
export function bearerOf(header: string | null | undefined): string | undefined {
  const m = header == null ? null : BEARER.exec(header)
  return m === null ? undefined : m[1].trim()
}

/** What a request's `Authorization` header says: no bearer token (401), a wrong one (403), or the right one. */
export function bearerVerdict(header: string | undefined, token: string): 'missing' | 'wrong' | 'ok' {
  const given = bearerOf(header)
  if (given === undefined) return 'missing'
  return safeEqual(given, token) ? 'ok' : 'wrong'
}
