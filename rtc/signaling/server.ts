/**
 * The signaling server: fastify + one WebSocket endpoint (`/ws`). A client's first message must be
 * `hello` with a signed token; everything after is validated by schema, reduced into the room
 * state and relayed. Media negotiation is handed to an {@link RtcProvider}.
 *
 * This file wires the parts together: {@link RoomRegistry} (the live rooms and their clock),
 * {@link SessionLifecycle} (hello, resume, away, leave), {@link serveConnection} (one socket) and
 * the message handlers (`handlers.ts`).
 */
import websocket from '@fastify/websocket'
import { logger as createLogger } from '@libp2p/logger'
import Fastify from 'fastify'
import { MAX_MESSAGE_BYTES } from '../constants.ts'
import type { RtcProvider } from '../provider.ts'
import { NullProvider } from '../provider.ts'
import { serveConnection } from './connection.ts'
import type { HandlerContext } from './handlers.ts'
import { createRtcMetrics } from './metrics.ts'
import { registerOpsRoutes } from './ops-routes.ts'
import { RoomRegistry } from './room-registry.ts'
import type { SignalingComponents, SignalingInit, SignalingServer } from './server-types.ts'
import { SessionLifecycle } from './session-lifecycle.ts'
import { registerWebPage } from './web-routes.ts'

export { CLOSE_CODES } from './refusals.ts'
export type { SignalingComponents, SignalingInit, SignalingServer } from './server-types.ts'

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
  const provider: RtcProvider = components.provider ?? new NullProvider()
  const app = Fastify({ logger: false })
  await app.register(websocket, { options: { maxPayload: MAX_FRAME_BYTES } })
  registerWebPage(app)

  const rooms = new RoomRegistry({ provider, logger: log, grants: components.grants }, init)
  const sessions = new SessionLifecycle({ rooms, provider, logger: log }, init)
  const handlers: HandlerContext = { provider, apply: rooms.apply, inCallElsewhere: rooms.inCallElsewhere }

  provider.attach({
    offer(roomId, user, sdp) {
      rooms.get(roomId)?.hub.send(user, { type: 'subscribe-offer', sdp })
    },
    speaker(roomId, user) {
      const room = rooms.get(roomId)
      if (room === undefined) return
      try {
        rooms.apply(room, { type: 'speaker', at: Date.now(), user })
      } catch (err) {
        log.error('speaker event failed %e', err)
      }
    },
  })

  // for monitoring: counts only (no user or room ids), read when scraped
  const metrics = createRtcMetrics(rooms, provider)
  app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.metrics()))
  app.get('/health', async () => ({ ok: true }))
  if (init.opsToken !== undefined) registerOpsRoutes(app, { rooms, opsToken: init.opsToken })

  app.get('/ws', { websocket: true }, (socket) => {
    serveConnection(socket, { sessions, handlers, logger: log }, init)
  })

  const address = await app.listen({ host: init.host ?? '127.0.0.1', port: init.port ?? 0 })
  return {
    url: address,
    app,
    room: (id) => rooms.get(id)?.hub,
    async close() {
      // sessions first: the sockets app.close() ends must not start grace timers
      sessions.close()
      rooms.close()
      await app.close()
      await provider.close()
    },
  }
}
