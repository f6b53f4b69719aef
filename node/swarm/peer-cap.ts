/**
 * Which peer makes room when a swarm holds its cap of peers and another one comes
 * (`Swarm.addSession`): the policy apart from the swarm, so it can be read on its own.
 *
 * "Slow peers replaced": a newcomer takes the place of a peer that scores below zero
 * (stalled, refused requests, lied about what it holds) or, while this node downloads,
 * of one that has had a stall period to show its speed and delivers under
 * {@link SLOW_PEER_FRACTION} of what the fastest peer delivers — unless that one is the
 * origin, or the only peer holding some chunk still missing (slow beats nothing).
 *
 * "Idle peers replaced": a peer that has neither asked for a chunk nor delivered one
 * we asked for during a stall period makes room too, downloading or seeding (unless it
 * is the origin we download from, or the only holder of a missing chunk). Before this a
 * seeding swarm never replaced anyone (nobody scores below zero there), so its cap
 * filled with peers that had finished, or that had only said hello, and every leecher
 * that came after was refused for as long as they stayed connected.
 */
import { SLOW_PEER_FRACTION } from '../node-constants.ts'
import type { Bitfield } from './bitfield.ts'
import type { PeerSession } from './session.ts'

/** What the policy reads of the swarm. */
export interface PeerCapState {
  /** This node is downloading (a slow peer costs it time). */
  downloading: boolean
  have?: Bitfield
  /** Peers holding each chunk. */
  availability: Uint16Array
  /** How long a peer has to show its speed before it can be judged slow. */
  graceMs: number
  now: number
}

/** The peer a newcomer would replace: the lowest score, then the slowest; undefined if none may go. */
export function worstReplaceable(
  sessions: Iterable<PeerSession>,
  state: PeerCapState,
): PeerSession | undefined {
  const all = [...sessions]
  let fastest = 0
  for (const s of all) fastest = Math.max(fastest, s.rateBytesPerSecond)
  let worst: PeerSession | undefined
  for (const s of all) {
    if (!replaceable(s, fastest, state)) continue
    if (
      worst === undefined ||
      s.score < worst.score ||
      (s.score === worst.score && s.rateBytesPerSecond < worst.rateBytesPerSecond)
    )
      worst = s
  }
  return worst
}

function replaceable(s: PeerSession, fastest: number, state: PeerCapState): boolean {
  if (s.score < 0) return true
  if (idle(s, state)) return !(state.downloading && s.hello?.role === 'origin') && !onlySource(s, state)
  if (!state.downloading || s.hello?.role === 'origin') return false
  if (state.now - s.openedAt < state.graceMs || s.rateBytesPerSecond >= fastest * SLOW_PEER_FRACTION)
    return false
  return !onlySource(s, state)
}

/** Whether `s` has exchanged no chunk with this node, either way, for a stall period. */
function idle(s: PeerSession, state: PeerCapState): boolean {
  return (
    state.now - s.lastExchangeAt >= state.graceMs &&
    s.outstanding.size === 0 &&
    s.queuedUploads === 0 &&
    s.servingUploads === 0
  )
}

/** Whether `s` is the only peer holding some chunk this node misses. */
function onlySource(s: PeerSession, state: PeerCapState): boolean {
  const have = state.have
  if (have === undefined || s.bits === undefined) return false
  for (let i = 0; i < have.size; i++)
    if (state.availability[i] <= 1 && !have.has(i) && s.bits.has(i)) return true
  return false
}
