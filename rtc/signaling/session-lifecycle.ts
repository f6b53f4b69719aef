/**
 * A participant's session from `hello` to leaving. `hello` verifies the token and joins its user,
 * or, naming a live session (`resume`), replays what the client missed. A session outlives its
 * socket: a dropped client is away, announced to the room only once it has been gone a while,
 * and leaves when the grace period ends without it coming back. A client that closed for good
 * (1000) leaves at once. The last to leave a room closes it.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from '@libp2p/logger'
import type { WebSocket } from 'ws'
import { verifyToken } from '../auth/token.ts'
import { MAX_TOGGLES_BURST, PRESENCE_DELAY_MS, RESUME_GRACE_MS, TOGGLE_REFILL_MS } from '../constants.ts'
import { ForbiddenError, NotInRoomError, RoomFullError, SessionReplacedError } from '../errors.ts'
import type { RtcProvider } from '../provider.ts'
import { DEFAULT_LIMITS, studentLimit, viewFor } from '../room/reducer.ts'
import type { RoomEvent } from '../room/types.ts'
import { TokenBucket } from '../util/token-bucket.ts'
import type { LiveRoom } from './handlers.ts'
import { IceServersOfSessions } from './ice-refresh.ts'
import type { ClientMessage, ServerMessage } from './messages.ts'
import { refuse } from './refusals.ts'
import { type RoomHub, type Session, sendRaw } from './room-hub.ts'
import type { RoomRegistry } from './room-registry.ts'
import type { SignalingInit } from './server-types.ts'

type Hello = Extract<ClientMessage, { type: 'hello' }>

/** Live things the lifecycle uses. */
export interface SessionLifecycleComponents {
  /** Where sessions join and events are applied. */
  rooms: RoomRegistry
  /** Told when a participant leaves, to drop its media. */
  provider: RtcProvider
  logger: Logger
}

/** Options of {@link SessionLifecycle}: the server's token, timing and welcome options. */
export type SessionLifecycleInit = Pick<
  SignalingInit,
  | 'secret'
  | 'previousSecrets'
  | 'graceMs'
  | 'presenceDelayMs'
  | 'origin'
  | 'limits'
  | 'iceServers'
  | 'turn'
  | 'iceRefreshMs'
>

/** Joins, resumes, drops and removes sessions. */
export class SessionLifecycle {
  private readonly components: SessionLifecycleComponents
  private readonly init: SessionLifecycleInit
  /** The current secret first: it signs nearly every token once a rotation is under way. */
  private readonly secrets: readonly string[]
  private readonly graceMs: number
  private readonly presenceDelayMs: number
  /** The STUN/TURN servers of each client: minted TURN credentials, and their refresh. */
  private readonly ice: IceServersOfSessions
  /** Set by {@link close}: the sockets the server closes must not start grace timers that outlive it. */
  private closing = false

  constructor(components: SessionLifecycleComponents, init: SessionLifecycleInit) {
    this.components = components
    this.init = init
    this.secrets = [init.secret, ...(init.previousSecrets ?? [])]
    this.graceMs = init.graceMs ?? RESUME_GRACE_MS
    this.presenceDelayMs = init.presenceDelayMs ?? PRESENCE_DELAY_MS
    this.ice = new IceServersOfSessions(init)
  }

  /**
   * A connection's first message: verifies its token, then resumes the session it names or joins
   * its user (a user already in the room keeps its participant, its old socket is replaced), and
   * sends `welcome`. Throws the token's, the room's or the reducer's typed errors.
   */
  hello(socket: WebSocket, msg: Hello): [LiveRoom, Session] {
    const { rooms } = this.components
    const claims = verifyToken(this.secrets, msg.token)
    const room = rooms.open(claims)
    const { hub } = room
    const existing = hub.sessions.get(claims.sub)
    if (existing !== undefined && existing.role !== claims.role)
      throw new ForbiddenError('user joined with another role')
    if (existing !== undefined && msg.resume !== undefined && existing.id === msg.resume.session) {
      return this.resume(socket, room, existing, msg.resume.seq)
    }
    if (existing !== undefined) {
      // a fresh login replaces the old session's socket but keeps the participant
      if (existing.socket !== null) refuse(existing.socket, new SessionReplacedError())
      existing.socket = null
      this.back(existing)
      // the new client does not know of the old one's negotiations, nor take their answers
      existing.media.abort(new SessionReplacedError())
      existing.media = new AbortController()
    }
    const session: Session = existing ?? {
      id: randomUUID(),
      user: claims.sub,
      role: claims.role,
      room: claims.room,
      socket: null,
      grace: undefined,
      offline: undefined,
      toggles: new TokenBucket(MAX_TOGGLES_BURST, TOGGLE_REFILL_MS),
      media: new AbortController(),
    }
    if (existing === undefined) {
      const join: RoomEvent = { type: 'join', at: Date.now(), user: claims.sub, role: claims.role }
      if (claims.role === 'teacher' && claims.kind !== undefined) join.kind = claims.kind
      const wasPending = hub.state.kind === 'pending'
      if (hub.sessions.size === 0 && Object.keys(hub.state.participants).length === 0) {
        // a room nobody could join is dropped again
        try {
          rooms.apply(room, join)
        } catch (err) {
          rooms.delete(claims.room)
          throw err
        }
      } else {
        rooms.apply(room, join)
      }
      hub.sessions.set(session.user, session)
      if (wasPending && hub.state.kind !== 'pending') this.enforceStudentLimit(room)
    } else {
      rooms.apply(room, { type: 'presence', at: Date.now(), user: session.user, connected: true })
    }
    sendRaw(socket, this.welcome(hub, session, hub.seq, false))
    session.socket = socket
    this.ice.arm(session)
    room.relay.resend(session.user)
    return [room, session]
  }

  /**
   * `socket`, the connection of `session`, closed. Unless the session has moved to another socket,
   * or the server is closing, it leaves (a client that closed for good) or is away.
   */
  dropped(room: LiveRoom, session: Session, socket: WebSocket, code: number): void {
    if (this.closing) return
    if (session.socket !== socket) return
    session.socket = null
    // RFC 6455 §7.4.1: "1000 indicates a normal closure, meaning that the purpose for which the
    // connection was established has been fulfilled" (`SignalingClient.close()`; a browser
    // leaving the page sends 1001, a lost connection shows as 1006). Such a client will not
    // resume: kept for the grace period it held its place against the room's limit and rang on
    // in a call it had left.
    if (code === 1000) {
      this.leave(room, session)
      return
    }
    this.away(room, session)
  }

  /**
   * `session` leaves `room` (if it still is the user's session there): its controls are refused,
   * its media dropped, and a room left empty is closed.
   */
  leave(room: LiveRoom, session: Session): void {
    const { rooms, provider, logger: log } = this.components
    clearTimeout(session.grace)
    clearTimeout(session.offline)
    session.offline = undefined
    this.ice.disarm(session)
    if (room.hub.sessions.get(session.user) !== session) return
    room.hub.sessions.delete(session.user)
    // a publish or subscribe still being negotiated stops and frees its connection now; left to
    // finish, it made one (and a publish, tracks) after the leave below had found nothing
    session.media.abort(new NotInRoomError(`${session.user} left`))
    try {
      rooms.apply(room, { type: 'leave', at: Date.now(), user: session.user })
    } catch (err) {
      log.error('leave failed %e', err)
    }
    room.relay.left(session.user)
    provider.leave(room.hub.state.id, session.user).catch((err) => log.error('media leave failed %e', err))
    if (room.hub.sessions.size === 0) {
      room.relay.close()
      rooms.delete(room.hub.state.id)
    }
  }

  /** The server is closing: no session is announced away or leaves from now on. */
  close(): void {
    this.closing = true
    this.ice.stop()
    for (const room of this.components.rooms.values()) {
      for (const s of room.hub.sessions.values()) {
        clearTimeout(s.grace)
        clearTimeout(s.offline)
        this.ice.disarm(s)
        s.media.abort(new Error('the server is closing'))
      }
    }
  }

  /** `existing` resumes on `socket`: welcomed, sent the events after `seq` and its pending controls. */
  private resume(socket: WebSocket, room: LiveRoom, existing: Session, seq: number): [LiveRoom, Session] {
    const { hub } = room
    this.back(existing)
    if (existing.socket !== null) {
      // the client resumes, so the socket we took for live is dead. Its drop is not recorded:
      // the participant is connected again by the time anyone would hear of it (this recorded
      // presence false, then true: two events to the whole class for each blip)
      const stale = existing.socket
      existing.socket = null
      // a close below 4400 would make the replaced client reconnect and replace this one in turn
      refuse(stale, new SessionReplacedError())
    }
    const missed = hub.since(seq, existing)
    sendRaw(socket, this.welcome(hub, existing, missed === undefined ? hub.seq : seq, missed !== undefined))
    for (const m of missed ?? [])
      sendRaw(socket, JSON.stringify({ type: 'event', ...m } satisfies ServerMessage))
    existing.socket = socket
    this.ice.arm(existing)
    this.components.rooms.apply(room, {
      type: 'presence',
      at: Date.now(),
      user: existing.user,
      connected: true,
    })
    room.relay.resend(existing.user)
    return [room, existing]
  }

  /** The `welcome` of `session`, as text: the room as its role sees it, counted up to `seq`. */
  private welcome(hub: RoomHub, session: Session, seq: number, resumed: boolean): string {
    const welcome: ServerMessage = {
      type: 'welcome',
      session: session.id,
      user: session.user,
      role: session.role,
      seq,
      state: viewFor(hub.state, session.role),
      resumed,
      limits: this.init.limits ?? DEFAULT_LIMITS,
      // TURN credentials minted for this user now, where a TURN secret is set
      iceServers: this.ice.of(session.user),
    }
    if (this.init.origin !== undefined) welcome.origin = this.init.origin
    return JSON.stringify(welcome)
  }

  /**
   * `session`'s socket is down (not closed for good): the room hears of it once it has been down
   * {@link SignalingInit.presenceDelayMs}, and the participant leaves after the grace period.
   * A network blip made every client of the room hear `presence` false and then true; in a class
   * of 200 whose Wi-Fi blips that was 400 events to 200 clients, and more than the resume log holds.
   */
  private away(room: LiveRoom, session: Session): void {
    const announce = (): void => {
      session.offline = undefined
      if (session.socket !== null || room.hub.sessions.get(session.user) !== session) return
      try {
        this.components.rooms.apply(room, {
          type: 'presence',
          at: Date.now(),
          user: session.user,
          connected: false,
        })
      } catch {
        // the participant may already be gone
      }
    }
    clearTimeout(session.offline)
    if (this.presenceDelayMs === 0) announce()
    else session.offline = setTimeout(announce, this.presenceDelayMs)
    session.grace = setTimeout(() => this.leave(room, session), this.graceMs)
  }

  /** `session` is back (resumed or logged in again): its drop, if not announced yet, never will be. */
  private back(session: Session): void {
    clearTimeout(session.grace)
    clearTimeout(session.offline)
    session.offline = undefined
  }

  /**
   * Once a teacher named a pending room's kind, students beyond what it holds leave, latest arrival
   * first, with the refusal they would have got had the teacher come first.
   */
  private enforceStudentLimit(room: LiveRoom): void {
    const { kind } = room.hub.state
    const max = studentLimit(kind, this.init.limits)
    const students = [...room.hub.sessions.values()].filter((s) => s.role === 'student')
    for (const session of students.slice(max)) {
      const socket = session.socket
      session.socket = null
      this.leave(room, session)
      if (socket !== null) refuse(socket, new RoomFullError(`a ${kind} room holds ${max} students`))
    }
  }
}
