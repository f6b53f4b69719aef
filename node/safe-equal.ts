/** Constant-time comparison of secrets (bearer and enrollment tokens). */
import { createHash, timingSafeEqual } from 'node:crypto'

/** Compares two strings in constant time; both are hashed first so their lengths do not leak. */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest()
  const db = createHash('sha256').update(b).digest()
  return timingSafeEqual(da, db)
}
