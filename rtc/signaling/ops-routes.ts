/**
 * The operators' view of the live classes (`GET /api/rooms`, `GET /api/rooms/:id`), behind its
 * own bearer token (`--ops-token`): which rooms are open, who is in each (role, connected or
 * away, camera, mute, screen), the call, the stage and the raised hands. Support answers "the
 * students cannot hear the teacher" from here; `/metrics` has counts only. Without the token
 * configured the routes do not exist (404): nothing of a class is readable by default.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { bearerVerdict } from '../../node/bearer.ts'
import type { RoomRegistry } from './room-registry.ts'

/** What the ops routes read, and the token that opens them. */
export interface OpsRoutesInit {
  rooms: RoomRegistry
  opsToken: string
}

/** Answers 401 / 403 and returns false unless `req` carries the ops token. */
function authorized(req: FastifyRequest, reply: FastifyReply, token: string): boolean {
  const verdict = bearerVerdict(req.headers.authorization, token)
  if (verdict === 'ok') return true
  reply
    .code(verdict === 'missing' ? 401 : 403)
    .header('www-authenticate', 'Bearer')
    .send({
      error: {
        code: verdict === 'missing' ? 'ERR_UNAUTHORIZED' : 'ERR_FORBIDDEN',
        message: 'the ops token is required',
      },
    })
  return false
}

/** Registers the ops routes on `app`. */
export function registerOpsRoutes(app: FastifyInstance, init: OpsRoutesInit): void {
  const { rooms, opsToken } = init
  app.get('/api/rooms', async (req, reply) => {
    if (!authorized(req, reply, opsToken)) return reply
    return [...rooms.values()].map(({ hub }) => {
      const people = Object.values(hub.state.participants)
      const byRole: Record<string, number> = { teacher: 0, student: 0, parent: 0 }
      for (const p of people) byRole[p.role] = (byRole[p.role] ?? 0) + 1
      return {
        id: hub.state.id,
        kind: hub.state.kind,
        participants: people.length,
        connected: people.filter((p) => p.connected).length,
        byRole,
        call: hub.state.call?.status ?? null,
        stage: hub.state.stage.length,
        hands: hub.state.hands.length,
      }
    })
  })
  app.get<{ Params: { id: string } }>('/api/rooms/:id', async (req, reply) => {
    if (!authorized(req, reply, opsToken)) return reply
    const room = rooms.get(req.params.id)
    if (room === undefined)
      return reply
        .code(404)
        .send({ error: { code: 'ERR_NOT_FOUND', message: `room ${req.params.id} is not open` } })
    const { state } = room.hub
    return {
      id: state.id,
      kind: state.kind,
      call: state.call,
      stage: state.stage,
      hands: state.hands,
      speaker: state.speaker,
      participants: Object.values(state.participants).map((p) => ({
        id: p.id,
        role: p.role,
        connected: p.connected,
        camera: p.camera,
        muted: p.muted,
        screen: p.screen,
      })),
    }
  })
}
