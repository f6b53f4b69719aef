/**
 * Which chunks to ask a peer for next. Pure functions over the swarm's state, so the
 * policy can be read (and tested) apart from the wire.
 *
 * Order: chunks a playback reader waits for (sequential, with look-ahead), then
 * rarest-first with a random tie-break, then — once every missing chunk is already
 * requested somewhere — endgame duplicates of chunks in flight.
 */
import { ENDGAME_MAX_DUPLICATES } from '../node-constants.ts'
import type { Bitfield } from './bitfield.ts'

/** The state the picker reads. */
export interface PickState {
  have: Bitfield
  /** Peers holding each chunk. */
  availability: Uint16Array
  /** Chunk index → how many peers it is requested from right now. */
  inflight: Map<number, number>
  /** Chunks being fetched from the origin over HTTP. */
  originInflight: Set<number>
  /** Chunks received and being verified and stored. */
  verifying: Set<number>
  /** Chunk indices readers wait for, most urgent first (already expanded with look-ahead). */
  priority: number[]
  /** Missing chunks neither in flight to a peer nor to the origin. */
  missingIdle: number
  /** Replicate the whole file (after `fetch`); otherwise only what readers wait for (streaming). */
  replicate: boolean
}

/** What the peer can give us. */
export interface PickPeer {
  bits?: Bitfield
  /** Chunks already requested from this peer. */
  outstanding: Map<number, number>
  /** Super-seeding peers advertise only what they offer us. */
  offered?: Set<number>
}

/**
 * Returns up to `count` chunk indices to request from `peer`.
 * `random` is injectable so tests can make tie-breaks deterministic.
 */
export function pickChunks(
  state: PickState,
  peer: PickPeer,
  count: number,
  random: () => number = Math.random,
): number[] {
  const bits = peer.bits
  if (bits === undefined || count <= 0) return []
  const out: number[] = []
  const free = (i: number): boolean =>
    !state.have.has(i) &&
    bits.has(i) &&
    !peer.outstanding.has(i) &&
    !state.originInflight.has(i) &&
    !state.verifying.has(i)
  // 1. playback readers: sequential from the read position, may duplicate an in-flight request
  for (const i of state.priority) {
    if (out.length >= count) return out
    if (free(i) && (state.inflight.get(i) ?? 0) < ENDGAME_MAX_DUPLICATES && !out.includes(i)) out.push(i)
  }
  // 2. rarest-first among chunks nobody is fetching yet, random tie-break: one linear pass
  //    per rarity level taken (usually one), no sorting, so a pass stays O(chunks)
  let floor = -1
  while (state.replicate && out.length < count && state.missingIdle > 0) {
    let min = Number.POSITIVE_INFINITY
    let seen = 0
    let pick = -1
    for (let i = 0; i < bits.size; i++) {
      const a = state.availability[i]
      if (a <= floor || a > min || !free(i) || state.inflight.has(i) || out.includes(i)) continue
      if (a < min) {
        min = a
        seen = 0
      }
      // reservoir sampling: each of the `seen` rarest candidates is equally likely
      if (random() * ++seen < 1) pick = i
    }
    if (pick < 0) break
    out.push(pick)
    if (seen === 1) floor = min
  }
  // 3. endgame: everything missing is in flight somewhere; ask this peer too
  if (state.replicate && out.length < count && state.missingIdle === 0) {
    const tail: number[] = []
    for (let i = 0; i < bits.size; i++) {
      const n = state.inflight.get(i) ?? 0
      if (free(i) && n > 0 && n < ENDGAME_MAX_DUPLICATES && !out.includes(i)) tail.push(i)
    }
    tail.sort(() => random() - 0.5)
    for (const i of tail) {
      if (out.length >= count) break
      out.push(i)
    }
  }
  return out
}
