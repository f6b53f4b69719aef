/**
 * Cursor pages of a list kept in ascending key order (`GET /nodes`, by node id). A cursor
 * names the last key of the page it follows, so paging goes on from there whatever
 * joined or left meanwhile: every entry present from the first page to the last, changed
 * or not, is listed exactly once, and one added or deleted midway at most once (listed if
 * its key is after the page being read). An offset would skip an entry for each one deleted
 * before it, and repeat one for each added.
 */
import { InvalidCursorError } from '../errors.ts'

/** A page: its keys, and whether any key follows the last of them. */
export interface KeyPage {
  keys: readonly string[]
  /** The cursor of the next page; absent on the last page. */
  next?: string
}

/** Keys the cursor can carry: the API's ids (`schemas.ts`). */
const KEY = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The opaque cursor of the page after `key`. Base64url of a small JSON object: clients must
 * pass it on as it is, and the tracker may add fields (a filter it was made under) later.
 */
export function encodeCursor(key: string): string {
  return Buffer.from(JSON.stringify({ after: key })).toString('base64url')
}

/** The key a cursor from {@link encodeCursor} pages after; throws {@link InvalidCursorError} otherwise. */
export function decodeCursor(cursor: string): string {
  // Node's base64url decoder skips what it cannot read: only a cursor this tracker would
  // make itself, character for character, is taken
  if (!/^[A-Za-z0-9_-]{1,400}$/.test(cursor)) throw new InvalidCursorError()
  let after: unknown
  try {
    after = (JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { after?: unknown })?.after
  } catch {
    throw new InvalidCursorError()
  }
  if (typeof after !== 'string' || !KEY.test(after) || encodeCursor(after) !== cursor)
    throw new InvalidCursorError()
  return after
}

/** Index of the first of `sorted` (ascending) greater than `key`. */
function firstAfter(sorted: readonly string[], key: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid] <= key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * Up to `limit` keys of `sorted` (ascending, unique) after the one `cursor` names (from the
 * first without one), and the cursor of the page after them if any key is left.
 */
export function pageOf(sorted: readonly string[], cursor: string | undefined, limit: number): KeyPage {
  const from = cursor === undefined ? 0 : firstAfter(sorted, decodeCursor(cursor))
  const keys = sorted.slice(from, from + limit)
  const more = from + limit < sorted.length
  return more ? { keys, next: encodeCursor(keys[keys.length - 1]) } : { keys }
}
