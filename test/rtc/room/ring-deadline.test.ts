/** A call past its ring deadline cannot be answered, even before the room clock ticks. */
import { describe, expect, it } from 'vitest'
import { InvalidTransitionError } from '../../../rtc/errors.ts'
import { createRoomState, DEFAULT_LIMITS, reduce } from '../../../rtc/room/reducer.ts'
import type { RoomState } from '../../../rtc/room/types.ts'

const T0 = 1_000_000
const deadline = T0 + DEFAULT_LIMITS.ringTimeoutMs

function ringingRoom(): RoomState {
  let s = createRoomState('r', 'one-on-one')
  s = reduce(s, { type: 'join', at: T0, user: 't', role: 'teacher', kind: 'one-on-one' })
  s = reduce(s, { type: 'join', at: T0, user: 'lamp', role: 'student' })
  s = reduce(s, { type: 'call.initiate', at: T0, by: 't', callId: 'k', callee: 'lamp' })
  return reduce(s, { type: 'call.ringing', at: T0 + 10, by: 'lamp', callId: 'k' })
}

describe('ring deadline', () => {
  it('refuses an accept or reject at or after the deadline, and the next tick times the call out', () => {
    const s = ringingRoom()
    for (const type of ['call.accept', 'call.reject'] as const) {
      // before: accepted, up to a whole tick interval after the call had timed out
      expect(() => reduce(s, { type, at: deadline, by: 'lamp', callId: 'k' })).toThrow(InvalidTransitionError)
      expect(() => reduce(s, { type, at: deadline + 500, by: 'lamp', callId: 'k' })).toThrow(
        InvalidTransitionError,
      )
    }
    expect(reduce(s, { type: 'tick', at: deadline + 500 }).call?.status).toBe('timeout')
  })

  it('still accepts just before the deadline', () => {
    const s = reduce(ringingRoom(), { type: 'call.accept', at: deadline - 1, by: 'lamp', callId: 'k' })
    expect(s.call?.status).toBe('accepted')
  })
})
