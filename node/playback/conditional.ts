/**
 * Conditional requests on played content (RFC 9110 §13): a browser revalidating the video
 * it cached (`If-None-Match`) and a player or downloader resuming a transfer (`If-Range`).
 * The only validator is the ETag, the manifest CID; no `Last-Modified` is sent, since a
 * name's active version can be rolled back to an older one.
 */

/** What the preconditions of a request say to do (RFC 9110 §13.2.2). */
export type PreconditionVerdict = 'proceed' | 'not-modified' | 'failed'

/** The entity-tags of an `If-Match` / `If-None-Match` / `If-Range` value, `*` as itself. */
function entityTags(value: string): string[] {
  if (value.trim() === '*') return ['*']
  return value.match(/(?:W\/)?"[^"]*"/g) ?? []
}

/** Strong comparison: both strong and the same (RFC 9110 §8.8.3.2). */
function strongMatch(tag: string, etag: string): boolean {
  return !tag.startsWith('W/') && tag === etag
}

/** Weak comparison: the same opaque tag, weak or not. */
function weakMatch(tag: string, etag: string): boolean {
  return tag.replace(/^W\//, '') === etag.replace(/^W\//, '')
}

/**
 * Evaluates `If-Match` and `If-None-Match` for a GET or HEAD of a representation that
 * exists with the strong validator `etag`.
 */
export function evaluatePreconditions(
  headers: { 'if-match'?: string; 'if-none-match'?: string },
  etag: string,
): PreconditionVerdict {
  // "If the field value is "*", the condition is true if the origin server has a current
  // representation ... [else] true if any of the listed tags match the entity tag of the
  // selected representation" (strong comparison); false: 412 (RFC 9110 §13.1.1)
  const ifMatch = headers['if-match']
  if (ifMatch !== undefined) {
    const tags = entityTags(ifMatch)
    if (!tags.some((t) => t === '*' || strongMatch(t, etag))) return 'failed'
  }
  // "An origin server MUST use the weak comparison function when comparing entity tags for
  // If-None-Match"; false on GET/HEAD: 304 Not Modified (RFC 9110 §13.1.2)
  const ifNoneMatch = headers['if-none-match']
  if (ifNoneMatch !== undefined) {
    const tags = entityTags(ifNoneMatch)
    if (tags.some((t) => t === '*' || weakMatch(t, etag))) return 'not-modified'
  }
  return 'proceed'
}

/**
 * Whether a GET's Range applies given its `If-Range`: "If the validator does not match,
 * the server MUST ignore the Range header field" (RFC 9110 §13.1.5), the comparison being
 * strong. A date never matches: no `Last-Modified` is sent.
 */
export function rangeApplies(ifRange: string | string[] | undefined, etag: string): boolean {
  if (ifRange === undefined) return true
  // a field given twice is not one validator
  if (typeof ifRange !== 'string') return false
  const value = ifRange.trim()
  return value.startsWith('"') && strongMatch(value, etag)
}
