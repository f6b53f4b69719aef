/**
 * Hang-ups that cross each other on the wire. Before: both ends hanging up at once got the
 * second one `ERR_INVALID_TRANSITION` ("call is ended"); a lamp declining a call the teacher had
 * just cancelled got the same; and a teacher's cancel that crossed the lamp's accept was refused,
 * so the call the teacher had given up on went on and the lamp connected to it.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createRoomState, reduce } from '../../../rtc/room/reducer.ts'
import type { RoomEvent } from '../../../rtc/room/types.ts'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/**
 * The error codes `c` is sent until the server has handled everything `c` sent before: the server
 * handles one socket's messages in order, so a reply to them comes before the `pong`.
 */
function errorsSoFar(c: SignalingClient, errors: string[]): Promise<string[]> {
  const pong = c.next('pong', { signal: AbortSignal.timeout(2_000) })
  c.send({ type: 'ping' })
  return pong.then(() => errors)
}

/** Collects the error codes `c` receives. */
function errorsOf(c: SignalingClient): string[] {
  const errors: string[] = []
  c.on('error', (e) => errors.push(e.code))
  return errors
}

/** Collects the types of the call events `c` receives. */
function callEventsOf(c: SignalingClient): string[] {
  const types: string[] = []
  c.on('event', ({ event }) => {
    if (event.type.startsWith('call.')) types.push(event.type)
  })
  return types
}

async function ringingCall(): Promise<{ t: SignalingClient; lamp: SignalingClient }> {
  h = await spawn()
  const t = await h.join('t', 'teacher', { kind: 'one-on-one' })
  const lamp = await h.join('lamp', 'student')
  t.action('call.initiate', { callId: 'c1', callee: 'lamp' })
  await lamp.waitFor((st) => st.call?.status === 'initiating')
  lamp.action('call.ringing', { callId: 'c1' })
  await t.waitFor((st) => st.call?.status === 'ringing')
  return { t, lamp }
}

describe('hang-ups that cross', () => {
  it('takes both ends hanging up at once without an error to either', async () => {
    const { t, lamp } = await ringingCall()
    lamp.action('call.accept', { callId: 'c1' })
    await t.waitFor((st) => st.call?.status === 'accepted')
    t.action('call.connected', { callId: 'c1' })
    await lamp.waitFor((st) => st.call?.status === 'in-call')
    const tErrors = errorsOf(t)
    const lampErrors = errorsOf(lamp)
    const seen = callEventsOf(t)
    t.action('call.end', { callId: 'c1' })
    lamp.action('call.end', { callId: 'c1' })
    expect(await errorsSoFar(t, tErrors)).toEqual([])
    expect(await errorsSoFar(lamp, lampErrors)).toEqual([])
    expect(h!.server.room('r1')!.state.call?.status).toBe('ended')
    expect(seen).toEqual(['call.end'])
    expect(t.state).toEqual(h!.server.room('r1')!.state)
  })

  it("hangs up a call whose accept crossed the teacher's cancel", async () => {
    const { t, lamp } = await ringingCall()
    const tErrors = errorsOf(t)
    lamp.action('call.accept', { callId: 'c1' })
    await lamp.waitFor((st) => st.call?.status === 'accepted')
    // sent before the teacher's client heard of the accept
    t.action('call.cancel', { callId: 'c1' })
    await lamp.waitFor((st) => st.call?.status === 'ended', { signal: AbortSignal.timeout(2_000) })
    expect(await errorsSoFar(t, tErrors)).toEqual([])
    expect(h!.server.room('r1')!.state.call?.status).toBe('ended')
    // the lamp does not connect a call that is over
    const lampErrors = errorsOf(lamp)
    lamp.action('call.connected', { callId: 'c1' })
    expect(await errorsSoFar(lamp, lampErrors)).toEqual(['ERR_INVALID_TRANSITION'])
  })

  it('lets a lamp decline a call that was just cancelled or timed out, quietly', async () => {
    const { t, lamp } = await ringingCall()
    const lampErrors = errorsOf(lamp)
    t.action('call.cancel', { callId: 'c1' })
    lamp.action('call.reject', { callId: 'c1' })
    expect(await errorsSoFar(lamp, lampErrors)).toEqual([])
    expect(h!.server.room('r1')!.state.call?.status).toBe('cancelled')
    // the teacher's cancel, sent again, is no error either
    const tErrors = errorsOf(t)
    t.action('call.cancel', { callId: 'c1' })
    expect(await errorsSoFar(t, tErrors)).toEqual([])
  })

  it('still refuses a hang-up from outside the call or of another call, and an accept of a call that is over', () => {
    const at = 1_000
    type CallAction = 'call.accept' | 'call.reject' | 'call.cancel' | 'call.end'
    const ev = (type: CallAction, by: string, callId: string): RoomEvent => ({ type, at, by, callId })
    let s = createRoomState('r', 'group')
    s = reduce(s, { type: 'join', at, user: 't', role: 'teacher' })
    for (const user of ['a', 'b']) s = reduce(s, { type: 'join', at, user, role: 'student' })
    s = reduce(s, { type: 'call.initiate', at, by: 't', callId: 'c1', callee: 'a' })
    s = reduce(s, ev('call.cancel', 't', 'c1'))
    expect(reduce(s, ev('call.end', 'a', 'c1'))).toBe(s)
    expect(() => reduce(s, ev('call.end', 'b', 'c1'))).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
    expect(() => reduce(s, ev('call.reject', 'a', 'c0'))).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
    expect(() => reduce(s, ev('call.accept', 'a', 'c1'))).toThrow(
      expect.objectContaining({ name: 'InvalidTransitionError' }),
    )
  })
})
