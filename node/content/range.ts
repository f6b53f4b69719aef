/**
 * HTTP Range parsing for content served by the origin and by nodes' playback servers
 * (RFC 9110 §14.2). Only single ranges are honoured; a multi-range or malformed header
 * is ignored and the whole content is sent, which the RFC allows.
 */

/** An inclusive byte range within content of `size` bytes. */
export interface ByteRange {
  start: number
  /** Inclusive. */
  end: number
}

/**
 * Parses a Range header against content of `size` bytes.
 * Returns `undefined` to send everything, or `'unsatisfiable'` for a 416.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined
  // the unit is case-insensitive (RFC 9110 §14.1); stray spaces around "=" and "-" are tolerated
  const m = /^bytes\s*=\s*(\d*)\s*-\s*(\d*)$/i.exec(header.trim())
  if (m === null || (m[1] === '' && m[2] === '')) return undefined
  if (m[1] === '') {
    // suffix range: the last N bytes
    const n = Number(m[2])
    if (n === 0) return 'unsatisfiable'
    return size === 0 ? 'unsatisfiable' : { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(m[1])
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable'
  if (end < start) return undefined
  return { start, end }
}
