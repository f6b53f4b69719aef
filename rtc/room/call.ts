/**
 * The call part of the classroom state machine: a teacher calls one participant (typically a desk
 * lamp), `call.initiate → call.ringing → call.accept | call.reject | call.cancel`, or a `tick` past
 * the ring deadline (`timeout`), then `call.connected` (in-call) and `call.end`. Pure, like the
 * reducer that hands it the `call.*` events.
 */
import { ForbiddenError, InvalidTransitionError, StageFullError } from '../errors.ts'
import { member, teacher } from './participants.ts'
import type { RoomLimits } from './reducer.ts'
import type { Call, CallStatus, RoomEvent, RoomState } from './types.ts'
import { TERMINAL_CALL } from './types.ts'

/** The events of a call. */
export type CallEvent = Extract<RoomEvent, { type: `call.${string}` }>

function activeCall(state: RoomState, callId: string, from: readonly CallStatus[]): Call {
  const call = state.call
  if (call === null || call.id !== callId) throw new InvalidTransitionError(`no call ${callId}`)
  if (!from.includes(call.status)) throw new InvalidTransitionError(`call is ${call.status}`)
  return call
}

/**
 * A call past its ring deadline has timed out, whether or not the room clock's `tick` has said so
 * yet: an answer that arrives between the deadline and the next tick must not connect it.
 */
function ringing(call: Call, at: number): void {
  if (at >= call.ringDeadline) throw new InvalidTransitionError('the call timed out')
}

/**
 * Whether `event` hangs up (declines, cancels, ends) call `callId` that is over already, sent by
 * one of its two ends: both ends hung up at once, or one hung up as the call was cancelled,
 * declined or timed out. What it asks for is done: no change, so no event and no error.
 */
function overAlready(state: RoomState, event: { by: string; callId: string }): boolean {
  const call = state.call
  return (
    call !== null &&
    call.id === event.callId &&
    TERMINAL_CALL.has(call.status) &&
    (event.by === call.caller || event.by === call.callee)
  )
}

/** Whether `call` is live at `at`: ringing before its deadline, answered or connected. */
function live(call: Call, at: number): boolean {
  if (call.status === 'accepted' || call.status === 'in-call') return true
  return (call.status === 'initiating' || call.status === 'ringing') && at < call.ringDeadline
}

/**
 * Whether `user` is one end of a call live at `at` in this room. The server keeps a user to one
 * live call across the rooms it is a member of (a lamp in a family room and a class).
 */
export function inCall(state: RoomState, user: string, at: number): boolean {
  const call = state.call
  return call !== null && (call.caller === user || call.callee === user) && live(call, at)
}

/**
 * The student a class's live call holds a stage place for: its callee, from the ring until the
 * call is over, unless it is on stage already. Called on, a student publishes like one on stage
 * (see `canPublish` in `reducer.ts`), so it counts against the stage limit; held from the ring, not the
 * answer, so that the stage cannot fill while the lamp rings and leave its answer no place.
 */
export function calledOn(state: RoomState, at: number): string | undefined {
  const call = state.call
  if (state.kind !== 'class' || call === null || !live(call, at)) return undefined
  if (state.stage.includes(call.callee)) return undefined
  return call.callee
}

/** `state` with `call` moved to `status`. */
export function withCall(state: RoomState, call: Call, status: CallStatus): RoomState {
  return { ...state, call: { ...call, status } }
}

/** Applies one `call.*` event; `reduce` (`reducer.ts`) hands each one here. */
export function reduceCall(state: RoomState, event: CallEvent, limits: RoomLimits): RoomState {
  switch (event.type) {
    case 'call.initiate': {
      teacher(state, event.by)
      const callee = member(state, event.callee)
      if (callee.role === 'parent' || callee.id === event.by)
        throw new ForbiddenError('cannot call this participant')
      if (state.call !== null && !TERMINAL_CALL.has(state.call.status)) {
        throw new InvalidTransitionError(`a call is already ${state.call.status}`)
      }
      // a class student called on publishes: the call takes a stage place, so one must be free
      if (state.kind === 'class' && !state.stage.includes(callee.id) && state.stage.length >= limits.maxStage)
        throw new StageFullError(`stage holds ${limits.maxStage}: no place for ${callee.id} to answer from`)
      const call: Call = {
        id: event.callId,
        caller: event.by,
        callee: callee.id,
        status: 'initiating',
        ringDeadline: event.at + limits.ringTimeoutMs,
      }
      return { ...state, call }
    }
    case 'call.ringing': {
      const call = activeCall(state, event.callId, ['initiating'])
      if (event.by !== call.callee) throw new ForbiddenError('only the callee rings')
      ringing(call, event.at)
      return withCall(state, call, 'ringing')
    }
    case 'call.accept':
    case 'call.reject': {
      if (event.type === 'call.reject' && overAlready(state, event)) return state
      const call = activeCall(state, event.callId, ['initiating', 'ringing'])
      if (event.by !== call.callee) throw new ForbiddenError('only the callee answers')
      ringing(call, event.at)
      return withCall(state, call, event.type === 'call.accept' ? 'accepted' : 'rejected')
    }
    case 'call.cancel': {
      if (overAlready(state, event)) return state
      const call = activeCall(state, event.callId, ['initiating', 'ringing'])
      if (event.by !== call.caller) throw new ForbiddenError('only the caller cancels')
      return withCall(state, call, 'cancelled')
    }
    case 'call.connected': {
      const call = activeCall(state, event.callId, ['accepted', 'in-call'])
      // only the two ends of a call report its media as connected
      if (event.by !== call.caller && event.by !== call.callee) throw new ForbiddenError('not in this call')
      return call.status === 'in-call' ? state : withCall(state, call, 'in-call')
    }
    case 'call.end': {
      if (overAlready(state, event)) return state
      const call = activeCall(state, event.callId, ['accepted', 'in-call'])
      if (event.by !== call.caller && event.by !== call.callee) throw new ForbiddenError('not in this call')
      return withCall(state, call, 'ended')
    }
  }
}
