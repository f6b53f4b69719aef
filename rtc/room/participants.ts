/** A room's participants: looking one up, and the checks an action makes on who sent it. */
import { ForbiddenError, NotInRoomError } from '../errors.ts'
import type { Participant, RoomState } from './types.ts'

/**
 * `user`'s entry in the room, or undefined. User ids come from tokens and messages: an id such as
 * `constructor` or `__proto__` must not find what every object inherits.
 */
export function participant(state: RoomState, user: string | undefined): Participant | undefined {
  if (user === undefined || !Object.hasOwn(state.participants, user)) return undefined
  return state.participants[user]
}

/** `user`'s entry; {@link NotInRoomError} if it is not in the room. */
export function member(state: RoomState, user: string): Participant {
  const p = participant(state, user)
  if (p === undefined) throw new NotInRoomError(`${user} is not in room ${state.id}`)
  return p
}

/** `user`'s entry if it is the room's teacher; {@link ForbiddenError} otherwise. */
export function teacher(state: RoomState, user: string): Participant {
  const p = member(state, user)
  if (p.role !== 'teacher') throw new ForbiddenError(`only the teacher may do this`)
  return p
}

/** Participants of `role` in the room. */
export function count(state: RoomState, role: Participant['role']): number {
  let n = 0
  for (const p of Object.values(state.participants)) if (p.role === role) n++
  return n
}
