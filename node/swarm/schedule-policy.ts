/**
 * The scheduler's policies beside the chunk picker (`picker.ts`): which peers are asked
 * first, how many requests each may hold, what playback readers need next, and what goes
 * to the origin. Pure functions over the swarm's state, read and tested apart from the wire.
 */
import {
  MAX_REQUEST_WINDOW,
  MIN_REQUEST_WINDOW,
  ORIGIN_CONCURRENCY,
  PIPELINE_TARGET_MS,
  PLAYBACK_LOOKAHEAD_CHUNKS,
  REQUEST_WINDOW_BYTES,
} from '../node-constants.ts'
import type { Bitfield } from './bitfield.ts'
import type { Hello } from './codec.ts'

/** Where a peer stands, as the ranking reads it. */
export interface RankedPeer {
  hello?: Pick<Hello, 'campus' | 'city'>
  score: number
}

/** A campus and a city, either or both unknown. */
export interface Place {
  campus?: string
  city?: string
}

/**
 * "Peers on the same campus preferred over same city over others": the campus first,
 * then the city, then the rest; better scores first within each. The scheduler hands out
 * requests in this order, so nearer peers fill their windows first. Where a peer is comes
 * from `placeOf` (`locality.ts`: a tracker's statement, or the peer's claim where no
 * tracker is trusted); by default its hello's claim.
 */
export function rankPeers<P extends RankedPeer>(
  peers: Iterable<P>,
  self: Place,
  placeOf: (p: P) => Place | undefined = (p) => p.hello,
): P[] {
  const tiers = new Map<P, number>()
  for (const p of peers) {
    const at = placeOf(p)
    tiers.set(
      p,
      at?.campus !== undefined && at.campus === self.campus
        ? 0
        : at?.city !== undefined && at.city === self.city
          ? 1
          : 2,
    )
  }
  return [...tiers.keys()].sort((a, b) => tiers.get(a)! - tiers.get(b)! || b.score - a.score)
}

/**
 * "Pipelined chunk requests with a per-peer window": sized to what the peer delivers in
 * about {@link PIPELINE_TARGET_MS}, so a capped or busy peer is not handed requests it
 * would sit on; at least {@link MIN_REQUEST_WINDOW}, at most {@link REQUEST_WINDOW_BYTES}
 * worth of chunks (and {@link MAX_REQUEST_WINDOW}).
 */
export function requestWindow(rateBytesPerSecond: number, chunkSize: number): number {
  const max = Math.min(
    MAX_REQUEST_WINDOW,
    Math.max(MIN_REQUEST_WINDOW, Math.floor(REQUEST_WINDOW_BYTES / chunkSize)),
  )
  const wanted = Math.ceil((rateBytesPerSecond * PIPELINE_TARGET_MS) / 1000 / chunkSize) + 1
  return Math.min(max, Math.max(MIN_REQUEST_WINDOW, wanted))
}

/**
 * What playback readers need next, most urgent first: from each reader's position (lowest
 * first), the missing chunks of the next {@link PLAYBACK_LOOKAHEAD_CHUNKS}.
 */
export function playbackPriority(positions: Iterable<number>, have: Bitfield): number[] {
  const out: number[] = []
  for (const p of [...new Set(positions)].sort((a, b) => a - b)) {
    for (let i = p; i < Math.min(p + PLAYBACK_LOOKAHEAD_CHUNKS, have.size); i++)
      if (!have.has(i) && !out.includes(i)) out.push(i)
  }
  return out
}

/** The state the origin fallback reads. */
export interface OriginState {
  have: Bitfield
  /** Peers holding each chunk. */
  availability: Uint16Array
  /** Chunks requested from peers right now. */
  inflight: ReadonlyMap<number, number>
  /** Chunks being fetched from the origin. */
  originInflight: ReadonlySet<number>
  /** Chunks received and being verified. */
  verifying: ReadonlySet<number>
  /** What readers wait for ({@link playbackPriority}). */
  priority: readonly number[]
  /**
   * Chunks readers wait for that peers hold, but only peers asked nothing now (stalled, or
   * refusing lately): as good as held by no peer.
   */
  unreachable?: ReadonlySet<number>
  /**
   * Replicating and no peer has delivered a chunk for the fallback's idle time: the swarm
   * is stuck, so any missing chunk may come from the origin.
   */
  peersIdle: boolean
}

/**
 * Chunks to fetch from the origin now (like a BitTorrent web seed), at most
 * {@link ORIGIN_CONCURRENCY} in flight. While peers make progress, only chunks a reader
 * waits for that no peer holds (or only stalled ones); once they are idle, readers' chunks first, then missing
 * chunks nobody is fetching, from `start` on (a random place, so nodes falling back
 * together do not all ask for the same ones).
 */
export function originChunks(state: OriginState, start: number): number[] {
  const { have } = state
  const wanted = [...state.priority]
  for (let n = 0; state.peersIdle && n < have.size && wanted.length < ORIGIN_CONCURRENCY * 2; n++) {
    const i = (start + n) % have.size
    if (!have.has(i) && !state.inflight.has(i) && !state.verifying.has(i)) wanted.push(i)
  }
  const out: number[] = []
  for (const i of wanted) {
    if (state.originInflight.size + out.length >= ORIGIN_CONCURRENCY) break
    if (have.has(i) || state.originInflight.has(i) || state.verifying.has(i) || out.includes(i)) continue
    if (!state.peersIdle && state.availability[i] > 0 && state.unreachable?.has(i) !== true) continue
    out.push(i)
  }
  return out
}
