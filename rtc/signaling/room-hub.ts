/**
 * One live room: its reduced state, a bounded log of numbered events for resume, and the
 * sessions of the people in it. Every change goes through {@link RoomHub.apply}.
 */
import type { WebSocket } from 'ws'
import type { Role } from '../auth/token.ts'
import { EVENT_LOG_SIZE } from '../constants.ts'
import { participant } from '../room/participants.ts'
import { createRoomState, type RoomLimits, reduce } from '../room/reducer.ts'
import type { RoomEvent, RoomState, RoomStateKind } from '../room/types.ts'
import type { TokenBucket } from '../util/token-bucket.ts'
import type { ServerMessage } from './messages.ts'

/** A participant's signaling session; outlives its socket for the resume grace period. */
export interface Session {
  id: string
  user: string
  role: Role
  room: string
  socket: WebSocket | null
  grace: ReturnType<typeof setTimeout> | undefined
  /**
   * Set while the socket is down and the drop not yet announced: fires after `PRESENCE_DELAY_MS`
   * to record `presence connected:false`. A client back before it is not announced at all.
   */
  offline: ReturnType<typeof setTimeout> | undefined
  /** Allowance for changes of the user's own hand and stage place (`MAX_TOGGLES_BURST`, `TOGGLE_REFILL_MS`). */
  toggles: TokenBucket
  /**
   * The signal of the media calls (publish, subscribe, answer) this session's client makes.
   * Aborted when the session leaves (closed for good, grace over, the server closing) or another
   * client logs in as its user, then replaced: a negotiation nobody will complete stops at once
   * and releases its connection. Not on a dropped socket: the client resumes and still takes
   * the answer (it is sent to the user's socket of the moment).
   */
  media: AbortController
  /** Sends the client TURN credentials minted afresh, before its last ones expire (with a TURN secret only). */
  iceRefresh?: ReturnType<typeof setTimeout>
}

/** Options of {@link RoomHub}. */
export interface RoomHubInit {
  /** Events kept for replay. @default {@link EVENT_LOG_SIZE} */
  logSize?: number
  limits?: RoomLimits
}

interface Logged {
  seq: number
  event: RoomEvent
  /** The event concerns a hidden observer (see {@link concernsHidden}). */
  hidden: boolean
}

/**
 * Whether `event` is the join, leave or presence of a hidden observer, judged on `state`, the state
 * that knew the participant. Decided once, when the event happens: by the time a resuming client
 * has it replayed, a parent who left is no longer in the state to tell.
 */
function concernsHidden(state: RoomState, event: RoomEvent): boolean {
  if (event.type === 'join') return event.role === 'parent'
  if (event.type === 'leave' || event.type === 'presence')
    return participant(state, event.user)?.hidden === true
  return false
}

/** Who may see an event: join/leave/presence of hidden observers is shown to teachers (and themselves) only. */
function visibleTo(entry: Logged, role: Role, self: string): boolean {
  if (role === 'teacher' || !entry.hidden) return true
  const { event } = entry
  return (event.type === 'join' || event.type === 'leave' || event.type === 'presence') && event.user === self
}

/** The runtime of one room. */
export class RoomHub {
  state: RoomState
  seq = 0
  readonly sessions = new Map<string, Session>()
  private readonly log: Logged[] = []
  private readonly logSize: number
  private readonly limits: RoomLimits | undefined

  constructor(id: string, kind: RoomStateKind, init: RoomHubInit = {}) {
    this.state = createRoomState(id, kind)
    this.logSize = init.logSize ?? EVENT_LOG_SIZE
    this.limits = init.limits
  }

  /**
   * Reduces `event` into the state; if it changed anything, numbers it, logs it and sends it to
   * every connected session allowed to see it. Throws the reducer's typed errors.
   */
  apply(event: RoomEvent): number | undefined {
    const before = this.state
    const next = reduce(before, event, this.limits)
    if (next === before) return undefined
    this.state = next
    const seq = ++this.seq
    // hidden-ness is judged on the state that knew the participant
    const entry: Logged = {
      seq,
      event,
      hidden: concernsHidden(event.type === 'leave' ? before : next, event),
    }
    this.log.push(entry)
    if (this.log.length > this.logSize) this.log.shift()
    const msg = JSON.stringify({ type: 'event', seq, event } satisfies ServerMessage)
    for (const s of this.sessions.values()) {
      if (s.socket !== null && visibleTo(entry, s.role, s.user)) sendRaw(s.socket, msg)
    }
    return seq
  }

  /** Events after `seq` that `session` may see, or undefined if the log no longer reaches back that far. */
  since(seq: number, session: Session): Array<{ seq: number; event: RoomEvent }> | undefined {
    if (seq > this.seq) return undefined
    if (seq < this.seq && (this.log.length === 0 || this.log[0].seq > seq + 1)) return undefined
    return this.log
      .filter((l) => l.seq > seq && visibleTo(l, session.role, session.user))
      .map(({ seq, event }) => ({ seq, event }))
  }

  /** Sends to one user's current socket; false if not connected. */
  send(user: string, message: ServerMessage): boolean {
    const s = this.sessions.get(user)
    if (s?.socket == null) return false
    return sendRaw(s.socket, JSON.stringify(message))
  }
}

/** Sends a text frame if the socket is open. */
export function sendRaw(socket: WebSocket, text: string): boolean {
  if (socket.readyState !== 1) return false
  socket.send(text)
  return true
}
