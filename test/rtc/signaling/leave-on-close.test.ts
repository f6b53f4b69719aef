/**
 * A client that closes its socket for good (WebSocket close code 1000, what
 * `SignalingClient.close()` sends) leaves the room at once. Before, it stayed for the whole resume
 * grace period (30 s) as a disconnected participant: counted against the room's limit (a student
 * arriving in its place was refused with 4409) and still ringing in a call its caller had left.
 * A socket that drops still keeps its place for the grace period.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

const GRACE_MS = 30_000

/** Waits up to `ms` for `c`'s state to match; false if it did not. */
async function within(
  c: SignalingClient,
  pred: Parameters<SignalingClient['waitFor']>[0],
  ms = 2_000,
): Promise<boolean> {
  return c.waitFor(pred, { signal: AbortSignal.timeout(ms) }).then(
    () => true,
    () => false,
  )
}

describe('a client that closes for good', () => {
  it('frees its place in a full group at once', async () => {
    h = await spawn({ graceMs: GRACE_MS })
    const t = await h.join('t', 'teacher', { kind: 'group' })
    const students = []
    for (let i = 1; i <= 6; i++) students.push(await h.join(`s${i}`, 'student'))
    students[0].close()
    expect(await within(t, (st) => st.participants.s1 === undefined)).toBe(true)
    // the seventh student takes the place the first one gave up
    const seventh = await h.join('s7', 'student')
    expect(Object.keys(seventh.state!.participants)).toHaveLength(7)
    expect(h.server.room('r1')!.sessions.has('s1')).toBe(false)
  })

  it('cancels the call it was ringing', async () => {
    h = await spawn({ graceMs: GRACE_MS })
    const t = await h.join('t', 'teacher', { kind: 'one-on-one' })
    const lamp = await h.join('lamp', 'student')
    t.action('call.initiate', { callId: 'c1', callee: 'lamp' })
    await lamp.waitFor((st) => st.call?.status === 'initiating')
    t.close()
    expect(await within(lamp, (st) => st.call?.status === 'cancelled')).toBe(true)
    expect(lamp.state!.participants.t).toBeUndefined()
  })

  it('still keeps the place of a socket that dropped', async () => {
    h = await spawn({ graceMs: GRACE_MS })
    const t = await h.join('t', 'teacher', { kind: 'one-on-one' })
    const lamp = await h.join('lamp', 'student')
    const session = lamp.session
    const seen: string[] = []
    t.on('event', ({ event }) => seen.push(event.type))
    const back = lamp.next('welcome', { signal: AbortSignal.timeout(5_000) })
    lamp.drop()
    // the lamp resumes its session; back within the presence delay, nobody heard it was away
    expect((await back).resumed).toBe(true)
    expect(lamp.session).toBe(session)
    t.send({ type: 'ping' })
    await t.next('pong')
    expect(seen).toEqual([])
    expect(h.server.room('r1')!.state.participants.lamp?.connected).toBe(true)
  })
})
