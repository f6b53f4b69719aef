/** What one client message does, once it passed the schema and its sender is known. */
import { ForbiddenError, MalformedMessageError, NotInRoomError } from '../errors.ts'
import type { RtcProvider } from '../provider.ts'
import { canPublish, participant } from '../room/reducer.ts'
import type { RoomEvent } from '../room/types.ts'
import type { ControlRelay } from './controls.ts'
import type { ClientMessage } from './messages.ts'
import type { RoomHub, Session } from './room-hub.ts'

/** A room with its control relay. */
export interface LiveRoom {
  hub: RoomHub
  relay: ControlRelay
}

/** What handlers use of the server. */
export interface HandlerContext {
  provider: RtcProvider
  /** Reduces an event into the room and unpublishes whoever lost the right to publish. */
  apply(room: LiveRoom, event: RoomEvent): void
}

/** Acts on one validated message; throws typed errors the server reports to the sender. */
export async function handleMessage(
  ctx: HandlerContext,
  room: LiveRoom,
  session: Session,
  msg: ClientMessage,
): Promise<void> {
  const { provider, apply } = ctx
  const { hub } = room
  const roomId = hub.state.id
  const at = Date.now()
  const by = session.user
  switch (msg.type) {
    case 'hello':
      throw new MalformedMessageError('already said hello')
    case 'ping':
      hub.send(by, { type: 'pong' })
      return
    case 'action': {
      const event = { type: msg.action, at, by, callId: msg.callId, callee: msg.callee, user: msg.user }
      if (msg.action === 'call.connected')
        apply(room, { type: 'call.connected', at, by, callId: msg.callId ?? '' })
      else apply(room, event as RoomEvent)
      return
    }
    case 'control': {
      if (session.role !== 'teacher') throw new ForbiddenError('only the teacher controls devices')
      if (participant(hub.state, msg.target) === undefined)
        throw new NotInRoomError(`${msg.target} is not here`)
      room.relay.submit(by, msg.target, msg.id, msg.command)
      return
    }
    case 'control-ack':
      room.relay.ack(by, msg)
      return
    case 'publish': {
      if (!canPublish(hub.state, by)) throw new ForbiddenError('you may not publish in this room now')
      const sdp = await provider.publish(roomId, by, msg.sdp)
      // taken off stage (or gone) while the publish was set up: the unpublish that came with
      // that change found nothing yet, so undo the publish here
      if (!canPublish(hub.state, by)) {
        await provider.unpublish(roomId, by)
        throw new ForbiddenError('you may not publish in this room now')
      }
      hub.send(by, { type: 'publish-answer', sdp })
      return
    }
    case 'subscribe':
      await provider.subscribe(roomId, by)
      return
    case 'subscribe-answer':
      await provider.answer(roomId, by, msg.sdp)
      return
  }
}
