/** `Authorization: Bearer <token>` checks shared by every service's HTTP API. */
import { safeEqual } from './safe-equal.ts'

/** What a request's `Authorization` header says: no bearer token (401), a wrong one (403), or the right one. */
export function bearerVerdict(header: string | undefined, token: string): 'missing' | 'wrong' | 'ok' {
  if (header === undefined || !header.startsWith('Bearer ')) return 'missing'
  return safeEqual(header.slice('Bearer '.length).trim(), token) ? 'ok' : 'wrong'
}
