/**
 * One client connection to `/ws`. Its first message must be `hello`, within
 * {@link SignalingInit.helloTimeoutMs}; every message is rate limited, then checked by the schema
 * before it is acted on. Before `hello` any bad message closes the connection; after it, a bad
 * message is answered with an `error`, up to {@link MAX_MALFORMED} of them.
 */
import type { Logger } from '@libp2p/logger'
import { WebSocket } from 'ws'
import { MAX_MESSAGES_BURST, MAX_MESSAGES_PER_S } from '../constants.ts'
import { MalformedMessageError, RateLimitedError, RtcError } from '../errors.ts'
import { TokenBucket } from '../util/token-bucket.ts'
import { type HandlerContext, handleMessage, type LiveRoom } from './handlers.ts'
import type { ClientMessage } from './messages.ts'
import { refuse, reply } from './refusals.ts'
import type { Session } from './room-hub.ts'
import { decodeClientMessage, requestIdOf, validateClientMessage } from './schema.ts'
import type { SignalingInit } from './server-types.ts'
import type { SessionLifecycle } from './session-lifecycle.ts'

/** Malformed messages a joined client may send before it is refused. */
const MAX_MALFORMED = 20

/** Live things a connection uses. */
export interface ConnectionComponents {
  /** Takes the `hello`, and the socket's close. */
  sessions: SessionLifecycle
  /** What the message handlers use once the client joined. */
  handlers: HandlerContext
  logger: Logger
}

/** Options of a connection. */
export type ConnectionInit = Pick<SignalingInit, 'helloTimeoutMs'>

/** Serves `socket`, a client that just connected, until it closes. */
export function serveConnection(
  socket: WebSocket,
  components: ConnectionComponents,
  init: ConnectionInit = {},
): void {
  const { sessions, handlers, logger: log } = components
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
        current = sessions.hello(socket, msg)
      } catch (err) {
        refuse(socket, err)
      }
      return
    }
    const [room, session] = current
    if (session.socket !== socket) return
    handleMessage(handlers, room, session, msg).catch((err: unknown) => {
      if (!(err instanceof RtcError)) log.error('handling %s failed %e', msg.type, err)
      reply(socket, err, msg.rid)
    })
  })
  socket.on('error', (err) => log('socket error %e', err))
  socket.on('close', (code) => {
    clearTimeout(helloTimer)
    if (current === undefined) return
    const [room, session] = current
    sessions.dropped(room, session, socket, code)
  })
}
