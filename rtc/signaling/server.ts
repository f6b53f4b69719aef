/**
 * The signaling server: fastify + one WebSocket endpoint (`/ws`). A client's first message must be
 * `hello` with a signed token; everything after is validated by schema, reduced into the room
 * state and relayed. Media negotiation is handed to an {@link RtcProvider}.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import websocket from '@fastify/websocket'
import type { Logger } from '@libp2p/logger'
import { logger as createLogger } from '@libp2p/logger'
import Fastify, { type FastifyInstance } from 'fastify'
import { WebSocket } from 'ws'
import type { UploadGrantIssuer } from '../../node/upload-grant.ts'
import { type TokenClaims, verifyToken } from '../auth/token.ts'
import {
  DEFAULT_ROOM_KIND,
  MAX_MESSAGE_BYTES,
  MAX_MESSAGES_BURST,
  MAX_MESSAGES_PER_S,
  MAX_ROOMS,
  MAX_TOGGLES_BURST,
  PHOTO_GRANT_TTL_MS,
  PHOTO_MAX_BYTES,
  PRESENCE_DELAY_MS,
  RESUME_GRACE_MS,
  TOGGLE_REFILL_MS,
} from '../constants.ts'
import {
  ForbiddenError,
  MalformedMessageError,
  RateLimitedError,
  RoomFullError,
  RtcError,
  SessionReplacedError,
} from '../errors.ts'
import type { RtcProvider } from '../provider.ts'
import { NullProvider } from '../provider.ts'
import {
  canPublish,
  DEFAULT_LIMITS,
  inCall,
  type RoomLimits,
  studentLimit,
  viewFor,
} from '../room/reducer.ts'
import type { RoomEvent } from '../room/types.ts'
import { TokenBucket } from '../util/token-bucket.ts'
import { ControlRelay } from './controls.ts'
import { handleMessage, type LiveRoom } from './handlers.ts'
import type { ClientMessage, PhotoUploadOffer, ServerMessage } from './messages.ts'
import { RoomHub, type Session, sendRaw } from './room-hub.ts'
import { decodeClientMessage, requestIdOf, validateClientMessage } from './schema.ts'
import { registerWebPage } from './web-routes.ts'

/** WebSocket close codes, with the error code as reason text. */
export const CLOSE_CODES: Readonly<Record<string, number>> = {
  ERR_INVALID_TOKEN: 4401,
  ERR_FORBIDDEN: 4403,
  ERR_ROOM_FULL: 4409,
  ERR_MALFORMED_MESSAGE: 4400,
  ERR_RATE_LIMITED: 4429,
  ERR_SESSION_REPLACED: 4410,
}

/** Live things the server uses. */
export interface SignalingComponents {
  /** @default a {@link NullProvider} (no media) */
  provider?: RtcProvider
  logger?: Logger
  /**
   * Signs the upload grant sent with each `capture-photo` control, so a lamp uploads its
   * photo without an origin token (with `origin` only). Without one, lamps upload with
   * whatever token they were configured with.
   */
  grants?: UploadGrantIssuer
}

/** Plain options of the signaling server. */
export interface SignalingInit {
  /** HMAC secret tokens are signed with (required). */
  secret: string
  /** Secrets of before a rotation: tokens they signed are still accepted. @default [] */
  previousSecrets?: readonly string[]
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @default 0 */
  port?: number
  /** Origin base URL handed to lamps for photo uploads. */
  origin?: string
  /** Largest photo a grant allows. @default {@link PHOTO_MAX_BYTES} */
  photoMaxBytes?: number
  /** @default {@link RESUME_GRACE_MS} */
  graceMs?: number
  /**
   * How long a dropped client is away before the room hears it is (`presence connected:false`);
   * 0 announces the drop at once. @default {@link PRESENCE_DELAY_MS}
   */
  presenceDelayMs?: number
  /** Device-control retransmit delay. */
  controlRetryMs?: number
  /** Device-control attempts. */
  controlMaxAttempts?: number
  /** How long a photo control the lamp said it is running may take. @default 15 min (`CONTROL_RUNNING_TIMEOUT_MS`) */
  controlRunningMs?: number
  /** Time allowed between connecting and `hello`. @default 5000 */
  helloTimeoutMs?: number
  /** Interval of the room clock (ring and hand timeouts). @default 1000 */
  tickMs?: number
  limits?: RoomLimits
}

/** A running signaling server. */
export interface SignalingServer {
  /** `http://host:port` */
  url: string
  app: FastifyInstance
  /** The live room `id`, for inspection. */
  room(id: string): RoomHub | undefined
  close(): Promise<void>
}

const MAX_MALFORMED = 20

/**
 * Largest frame the socket reads: twice the largest legal message ({@link MAX_MESSAGE_BYTES}). A
 * message between the two reaches the schema's size check, which answers it with an `error`
 * and keeps the connection (with the socket's limit at the message limit, ws closed with 1009
 * and sent no reason, and the client reconnected as after a drop); a larger frame still closes
 * the socket with 1009 before it is buffered.
 */
export const MAX_FRAME_BYTES = 2 * MAX_MESSAGE_BYTES

/** Starts the signaling server. */
export async function createSignalingServer(
  components: SignalingComponents,
  init: SignalingInit,
): Promise<SignalingServer> {
  const log = components.logger ?? createLogger('dandelion:rtc:signaling')
  const provider = components.provider ?? new NullProvider()
  const graceMs = init.graceMs ?? RESUME_GRACE_MS
  const presenceDelayMs = init.presenceDelayMs ?? PRESENCE_DELAY_MS
  // the current secret first: it signs nearly every token once a rotation is under way
  const secrets: readonly string[] = [init.secret, ...(init.previousSecrets ?? [])]
  const rooms = new Map<string, LiveRoom>()
  const app = Fastify({ logger: false })
  await app.register(websocket, { options: { maxPayload: MAX_FRAME_BYTES } })
  registerWebPage(app)

  const live = (id: string): LiveRoom | undefined => rooms.get(id)

  /**
   * The upload grant of a photo control for `target`: one resource per photo, made once per
   * control (the relay reuses it on every retransmission). The name carries 128 random bits:
   * the origin serves a photo to whoever has its name, so it must not be derivable from the
   * room, the control id (which the teacher chooses) or the lamp, nor be enumerable.
   */
  const photoUpload = (target: string): PhotoUploadOffer | undefined => {
    if (init.origin === undefined || components.grants === undefined) return undefined
    const name = `homework-${target}-${randomBytes(16).toString('hex')}`
    const maxBytes = init.photoMaxBytes ?? PHOTO_MAX_BYTES
    const grant = components.grants.issue({ name, type: 'image', max: maxBytes, ttlMs: PHOTO_GRANT_TTL_MS })
    return { origin: init.origin, name, grant, maxBytes }
  }
  // set by close(): the sockets it closes must not start grace timers that outlive the server
  let closing = false

  const apply = (room: LiveRoom, event: RoomEvent): number | undefined => {
    const hadPublish = new Set(
      Object.keys(room.hub.state.participants).filter((u) => canPublish(room.hub.state, u)),
    )
    const seq = room.hub.apply(event)
    for (const u of hadPublish) {
      if (!canPublish(room.hub.state, u)) {
        provider.unpublish(room.hub.state.id, u).catch((err) => log.error('unpublish %s failed %e', u, err))
      }
    }
    return seq
  }

  provider.attach({
    offer(roomId, user, sdp) {
      live(roomId)?.hub.send(user, { type: 'subscribe-offer', sdp })
    },
    speaker(roomId, user) {
      const room = live(roomId)
      if (room === undefined) return
      try {
        apply(room, { type: 'speaker', at: Date.now(), user })
      } catch (err) {
        log.error('speaker event failed %e', err)
      }
    },
  })

  const getRoom = (claims: TokenClaims): LiveRoom => {
    let room = rooms.get(claims.room)
    if (room !== undefined) return room
    if (rooms.size >= MAX_ROOMS) throw new RoomFullError('server holds too many rooms')
    // The kind is "only honoured for teachers": a room a student or parent opens waits, pending,
    // for the first teacher's token to name it (students often arrive before their teacher).
    const kind = claims.role === 'teacher' ? (claims.kind ?? DEFAULT_ROOM_KIND) : 'pending'
    const hub = new RoomHub(claims.room, kind, { limits: init.limits })
    const relay = new ControlRelay(
      {
        send: (user, message) => hub.send(user, message),
        applied: (target, setting) => {
          try {
            apply(room!, { type: 'device.applied', at: Date.now(), by: target, setting })
          } catch (err) {
            log.error('device setting not applied %e', err)
          }
        },
        photoUpload,
      },
      {
        retryMs: init.controlRetryMs,
        maxAttempts: init.controlMaxAttempts,
        runningMs: init.controlRunningMs,
      },
    )
    room = { hub, relay }
    rooms.set(claims.room, room)
    return room
  }

  /** Whether `user` is an end of a live call in a room other than `room`. */
  const inCallElsewhere = (user: string, room: LiveRoom, at: number): boolean => {
    // at most MAX_ROOMS rooms, and only for a call being started
    for (const other of rooms.values()) if (other !== room && inCall(other.hub.state, user, at)) return true
    return false
  }

  const leave = (room: LiveRoom, session: Session): void => {
    clearTimeout(session.grace)
    clearTimeout(session.offline)
    session.offline = undefined
    if (room.hub.sessions.get(session.user) !== session) return
    room.hub.sessions.delete(session.user)
    try {
      apply(room, { type: 'leave', at: Date.now(), user: session.user })
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

  /**
   * Once a teacher named a pending room's kind, students beyond what it holds leave, latest arrival
   * first, with the refusal they would have got had the teacher come first.
   */
  const enforceStudentLimit = (room: LiveRoom): void => {
    const { kind } = room.hub.state
    const max = studentLimit(kind, init.limits)
    const students = [...room.hub.sessions.values()].filter((s) => s.role === 'student')
    for (const session of students.slice(max)) {
      const socket = session.socket
      session.socket = null
      leave(room, session)
      if (socket !== null) refuse(socket, new RoomFullError(`a ${kind} room holds ${max} students`))
    }
  }

  const ticker = setInterval(() => {
    const at = Date.now()
    for (const room of rooms.values()) {
      try {
        apply(room, { type: 'tick', at })
      } catch (err) {
        log.error('tick failed %e', err)
      }
    }
  }, init.tickMs ?? 1000)
  ticker.unref()

  const refuse = (socket: WebSocket, err: unknown): void => {
    const code = err instanceof RtcError ? err.code : 'ERR_INTERNAL'
    const message = err instanceof Error ? err.message : 'error'
    sendRaw(socket, JSON.stringify({ type: 'error', code, message } satisfies ServerMessage))
    socket.close(CLOSE_CODES[code] ?? 4000, `${code}: ${message}`.slice(0, 120))
  }

  /** Answers a refused message with an `error` naming its request id, if it had one. */
  const reply = (socket: WebSocket, err: unknown, rid: string | undefined): void => {
    const code = err instanceof RtcError ? err.code : 'ERR_INTERNAL'
    const message = err instanceof Error ? err.message : 'error'
    const error: ServerMessage = { type: 'error', code, message }
    if (rid !== undefined) error.rid = rid
    sendRaw(socket, JSON.stringify(error))
  }

  /**
   * `session`'s socket is down (not closed for good): the room hears of it once it has been down
   * {@link SignalingInit.presenceDelayMs}, and the participant leaves after the grace period.
   * A network blip made every client of the room hear `presence` false and then true; in a class
   * of 200 whose Wi-Fi blips that was 400 events to 200 clients, and more than the resume log holds.
   */
  const away = (room: LiveRoom, session: Session): void => {
    const announce = (): void => {
      session.offline = undefined
      if (session.socket !== null || room.hub.sessions.get(session.user) !== session) return
      try {
        apply(room, { type: 'presence', at: Date.now(), user: session.user, connected: false })
      } catch {
        // the participant may already be gone
      }
    }
    clearTimeout(session.offline)
    if (presenceDelayMs === 0) announce()
    else session.offline = setTimeout(announce, presenceDelayMs)
    session.grace = setTimeout(() => leave(room, session), graceMs)
  }

  /** `session` is back (resumed or logged in again): its drop, if not announced yet, never will be. */
  const back = (session: Session): void => {
    clearTimeout(session.grace)
    clearTimeout(session.offline)
    session.offline = undefined
  }

  const hello = (socket: WebSocket, msg: Extract<ClientMessage, { type: 'hello' }>): [LiveRoom, Session] => {
    const claims = verifyToken(secrets, msg.token)
    const room = getRoom(claims)
    const { hub } = room
    const existing = hub.sessions.get(claims.sub)
    if (existing !== undefined && existing.role !== claims.role)
      throw new ForbiddenError('user joined with another role')
    if (existing !== undefined && msg.resume !== undefined && existing.id === msg.resume.session) {
      back(existing)
      if (existing.socket !== null) {
        // the client resumes, so the socket we took for live is dead. Its drop is not recorded:
        // the participant is connected again by the time anyone would hear of it (this recorded
        // presence false, then true: two events to the whole class for each blip)
        const stale = existing.socket
        existing.socket = null
        // a close below 4400 would make the replaced client reconnect and replace this one in turn
        refuse(stale, new SessionReplacedError())
      }
      const missed = hub.since(msg.resume.seq, existing)
      const welcome: ServerMessage = {
        type: 'welcome',
        session: existing.id,
        user: existing.user,
        role: existing.role,
        seq: missed === undefined ? hub.seq : msg.resume.seq,
        state: viewFor(hub.state, existing.role),
        resumed: missed !== undefined,
        limits: init.limits ?? DEFAULT_LIMITS,
      }
      if (init.origin !== undefined) welcome.origin = init.origin
      sendRaw(socket, JSON.stringify(welcome))
      for (const m of missed ?? [])
        sendRaw(socket, JSON.stringify({ type: 'event', ...m } satisfies ServerMessage))
      existing.socket = socket
      apply(room, { type: 'presence', at: Date.now(), user: existing.user, connected: true })
      room.relay.resend(existing.user)
      return [room, existing]
    }
    if (existing !== undefined) {
      // a fresh login replaces the old session's socket but keeps the participant
      if (existing.socket !== null) refuse(existing.socket, new SessionReplacedError())
      existing.socket = null
      back(existing)
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
    }
    if (existing === undefined) {
      const join: RoomEvent = { type: 'join', at: Date.now(), user: claims.sub, role: claims.role }
      if (claims.role === 'teacher' && claims.kind !== undefined) join.kind = claims.kind
      const wasPending = hub.state.kind === 'pending'
      if (hub.sessions.size === 0 && Object.keys(hub.state.participants).length === 0) {
        // a room nobody could join is dropped again
        try {
          apply(room, join)
        } catch (err) {
          rooms.delete(claims.room)
          throw err
        }
      } else {
        apply(room, join)
      }
      hub.sessions.set(session.user, session)
      if (wasPending && hub.state.kind !== 'pending') enforceStudentLimit(room)
    } else {
      apply(room, { type: 'presence', at: Date.now(), user: session.user, connected: true })
    }
    const welcome: ServerMessage = {
      type: 'welcome',
      session: session.id,
      user: session.user,
      role: session.role,
      seq: hub.seq,
      state: viewFor(hub.state, session.role),
      resumed: false,
      limits: init.limits ?? DEFAULT_LIMITS,
    }
    if (init.origin !== undefined) welcome.origin = init.origin
    sendRaw(socket, JSON.stringify(welcome))
    session.socket = socket
    room.relay.resend(session.user)
    return [room, session]
  }

  app.get('/ws', { websocket: true }, (socket) => {
    let current: [LiveRoom, Session] | undefined
    let malformed = 0
    // a client may burst MAX_MESSAGES_BURST messages, refilled at MAX_MESSAGES_PER_S
    const messages = new TokenBucket(MAX_MESSAGES_BURST, 1000 / MAX_MESSAGES_PER_S)
    const helloTimer = setTimeout(() => {
      if (current === undefined) refuse(socket, new MalformedMessageError('no hello in time'))
    }, init.helloTimeoutMs ?? 5000)
    socket.on('message', (data, isBinary) => {
      // ws still delivers what arrives after we sent our close frame (refused: hello timeout,
      // rate limit, replaced session). A hello that crossed the hello timeout's refusal joined
      // its user, unreachable and kept for the grace period against the room's limits.
      if (socket.readyState !== WebSocket.OPEN) return
      if (!messages.take()) {
        refuse(socket, new RateLimitedError())
        return
      }
      let msg: ClientMessage
      let rid: string | undefined
      try {
        if (isBinary) throw new MalformedMessageError('binary frames are not accepted')
        const value = decodeClientMessage(data)
        rid = requestIdOf(value)
        msg = validateClientMessage(value)
      } catch (err) {
        if (current === undefined || ++malformed > MAX_MALFORMED) refuse(socket, err)
        else reply(socket, err, rid)
        return
      }
      if (current === undefined) {
        clearTimeout(helloTimer)
        try {
          if (msg.type !== 'hello') throw new MalformedMessageError('first message must be hello')
          current = hello(socket, msg)
        } catch (err) {
          refuse(socket, err)
        }
        return
      }
      const [room, session] = current
      if (session.socket !== socket) return
      handleMessage({ provider, apply, inCallElsewhere }, room, session, msg).catch((err: unknown) => {
        if (!(err instanceof RtcError)) log.error('handling %s failed %e', msg.type, err)
        reply(socket, err, msg.rid)
      })
    })
    socket.on('error', (err) => log('socket error %e', err))
    socket.on('close', (code) => {
      clearTimeout(helloTimer)
      if (current === undefined || closing) return
      const [room, session] = current
      if (session.socket !== socket) return
      session.socket = null
      // RFC 6455 §7.4.1: "1000 indicates a normal closure, meaning that the purpose for which the
      // connection was established has been fulfilled" (`SignalingClient.close()`; a browser
      // leaving the page sends 1001, a lost connection shows as 1006). Such a client will not
      // resume: kept for the grace period it held its place against the room's limit and rang on
      // in a call it had left.
      if (code === 1000) {
        leave(room, session)
        return
      }
      away(room, session)
    })
  })

  const address = await app.listen({ host: init.host ?? '127.0.0.1', port: init.port ?? 0 })
  return {
    url: address,
    app,
    room: (id) => rooms.get(id)?.hub,
    async close() {
      closing = true
      clearInterval(ticker)
      for (const room of rooms.values()) {
        room.relay.close()
        for (const s of room.hub.sessions.values()) {
          clearTimeout(s.grace)
          clearTimeout(s.offline)
        }
      }
      rooms.clear()
      await app.close()
      await provider.close()
    },
  }
}
