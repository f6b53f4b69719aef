/**
 * The layout of {@link FsChunkStore}'s `level` index, shared by the store, its start-time
 * recovery (`recovery.ts`) and its compaction (`compaction.ts`):
 *
 * - `c!<cid>` → `<segment>:<offset>:<length>`: a visible chunk;
 * - `w!<cid>` → the same: a write in progress (its intent), never visible;
 * - `p!<key>` → JSON array of CIDs: a pin.
 */
import type { Location } from './segments.ts'

/** Key prefix of a visible chunk's location. */
export const CHUNK_PREFIX = 'c!'
/** Key prefix of a write's intent: where its bytes go, before they are there. */
export const INTENT_PREFIX = 'w!'
/** Key prefix of a pin. */
export const PIN_PREFIX = 'p!'

/** Encodes a location as an index value. */
export const encodeLocation = (l: Location): string => `${l.segment}:${l.offset}:${l.length}`

/** Parses an index value; `undefined` when it is not a location. */
export function decodeLocation(value: string): Location | undefined {
  const parts = value.split(':')
  if (parts.length !== 3) return undefined
  const [segment, offset, length] = parts.map(Number)
  if (![segment, offset, length].every((n) => Number.isSafeInteger(n) && n >= 0)) return undefined
  return { segment, offset, length }
}
