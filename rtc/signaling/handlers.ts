/** What one client message does, once it passed the schema and its sender is known. */
import {
  ActionRateLimitedError,
  BusyError,
  ForbiddenError,
  MalformedMessageError,
  NotInRoomError,
  type RtcError,
} from '../errors.ts'
import type { RtcProvider } from '../provider.ts'
import { participant } from '../room/participants.ts'
import { canPublish } from '../room/reducer.ts'
import type { RoomEvent, RoomState } from '../room/types.ts'
import type { ControlRelay } from './controls.ts'
import type { ActionName, ClientMessage } from './messages.ts'
import type { RoomHub, Session } from './room-hub.ts'

/** A room with its control relay. */
export interface LiveRoom {
  hub: RoomHub
  relay: ControlRelay
}

/** What handlers use of the server. */
export interface HandlerContext {
  provider: RtcProvider
  /**
   * Reduces an event into the room and unpublishes whoever lost the right to publish. Returns the
   * event's sequence number, or undefined when it changed nothing (and was not broadcast).
   */
  apply(room: LiveRoom, event: RoomEvent): number | undefined
  /** Whether `user` is an end of a live call in a room other than `room` (at time `at`). */
  inCallElsewhere(user: string, room: LiveRoom, at: number): boolean
}

/**
 * Whether `msg` changes only its sender's own hand or stage place: anyone may send these at will,
 * so each one that changes the room costs a token of the sender's {@link Session.toggles}.
 */
function isToggle(msg: Extract<ClientMessage, { type: 'action' }>, by: string): boolean {
  return (
    msg.action === 'hand.raise' ||
    msg.action === 'hand.lower' ||
    (msg.action === 'stage.remove' && msg.user === by)
  )
}

/**
 * The room event an action makes. A caller's `call.cancel` that crossed the callee's accept (the
 * call is answered by the time it arrives) hangs the call up: refused, the call the teacher meant
 * to stop went on and the lamp connected to nobody who wanted it. It goes on as `call.end`, which
 * every client's copy of the state (the page's too) applies alike.
 */
function actionType(
  state: RoomState,
  msg: Extract<ClientMessage, { type: 'action' }>,
  by: string,
): ActionName {
  const call = state.call
  if (
    msg.action === 'call.cancel' &&
    call !== null &&
    call.id === msg.callId &&
    call.caller === by &&
    (call.status === 'accepted' || call.status === 'in-call')
  )
    return 'call.end'
  return msg.action
}

/** Why `session` may not send a device control to `target`, or undefined if it may. */
function controlRefusal(state: RoomState, session: Session, target: string): RtcError | undefined {
  if (session.role !== 'teacher') return new ForbiddenError('only the teacher controls devices')
  const p = participant(state, target)
  if (p === undefined) return new NotInRoomError(`${target} is not here`)
  // Controls drive a student's lamp. A parent's client would have applied one and its ACK
  // named the hidden observer to the whole class (`device.applied` by the parent).
  if (p.role !== 'student') return new ForbiddenError("only a student's lamp takes device controls")
  return undefined
}

/**
 * Refuses a call to or from someone already in a call in another room (`ERR_BUSY`). A lamp is a
 * member of every room it holds a token for (its family's one-on-one room, its class) with one
 * session in each, while it has one speaker, one camera and one student: each room's call rang
 * it, and it rang twice at once. The call that came first keeps it. A callee who is not in this
 * room is left to the reducer (`ERR_NOT_IN_ROOM`): a teacher learns nothing of other rooms'
 * calls by naming people who are not in its own. The teacher is held to one call the same way.
 */
function refuseBusy(
  ctx: HandlerContext,
  room: LiveRoom,
  msg: Extract<ClientMessage, { type: 'action' }>,
  by: string,
  at: number,
): void {
  const { state } = room.hub
  const callee = msg.callee
  // whatever the reducer refuses (not the teacher, nobody of that name here) it refuses as before
  if (participant(state, by)?.role !== 'teacher') return
  if (callee === undefined || participant(state, callee) === undefined) return
  if (ctx.inCallElsewhere(by, room, at)) throw new BusyError('you are in a call in another room')
  if (ctx.inCallElsewhere(callee, room, at)) throw new BusyError(`${callee} is in another call`)
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
      const type = actionType(hub.state, msg, by)
      if (type === 'call.initiate') refuseBusy(ctx, room, msg, by, at)
      const event = { type, at, by, callId: msg.callId, callee: msg.callee, user: msg.user }
      if (msg.action === 'call.connected') {
        apply(room, { type: 'call.connected', at, by, callId: msg.callId ?? '' })
        return
      }
      // A student toggling its hand within the connection's message rate (50/s) would send ~100
      // events a second to a class of 200 and push the resume log past what resumes can replay.
      const toggle = isToggle(msg, by)
      if (toggle && !session.toggles.ready()) throw new ActionRateLimitedError()
      // a no-op (raising a raised hand) makes no event and costs nothing
      if (apply(room, event as RoomEvent) !== undefined && toggle) session.toggles.take()
      return
    }
    case 'control': {
      const refusal = controlRefusal(hub.state, session, msg.target)
      if (refusal !== undefined) {
        // Answered by id too, not remembered: the sender's client resends a control until its
        // ACK, and an `error` names no id; it resent a refused control for ~31 s and then
        // reported ERR_CONTROL_TIMEOUT, as if the lamp had not answered.
        hub.send(by, { type: 'control-ack', id: msg.id, ok: false, error: refusal.code })
        throw refusal
      }
      room.relay.submit(by, msg.target, msg.id, msg.command)
      return
    }
    case 'control-ack':
      room.relay.ack(by, msg)
      return
    case 'control-progress':
      room.relay.progress(by, msg.id)
      return
    case 'publish': {
      if (!canPublish(hub.state, by)) throw new ForbiddenError('you may not publish in this room now')
      // stopped, its connection freed, if the user leaves (or logs in anew) while it is set up
      const sdp = await provider.publish(roomId, by, msg.sdp, { signal: session.media.signal })
      // taken off stage (or gone) while the publish was set up: the unpublish that came with
      // that change found nothing yet, so undo the publish here
      if (!canPublish(hub.state, by)) {
        await provider.unpublish(roomId, by)
        throw new ForbiddenError('you may not publish in this room now')
      }
      // the request id, if any, so the client tells this answer from a late one to an earlier offer
      hub.send(by, { type: 'publish-answer', sdp, rid: msg.rid })
      return
    }
    case 'subscribe':
      await provider.subscribe(roomId, by, { signal: session.media.signal })
      return
    case 'subscribe-answer':
      await provider.answer(roomId, by, msg.sdp, { signal: session.media.signal })
      return
  }
}
