/**
 * A lamp is a member of every room it holds a token for: its family's one-on-one room and its
 * class, say, with one session in each. It is one device with one speaker and one student, so it
 * rings for one call at a time: a call to it while it rings or talks in another room is refused
 * with ERR_BUSY, and the lamp hears nothing of it. Before, each room's call rang it, and it rang in
 * both at once.
 */
import { describe, expect, it } from 'vitest'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import { harnessPerTest, outcome } from './harness.ts'

const { spawn } = harnessPerTest()

describe('a lamp in two rooms', () => {
  it('rings in the room whose call came first, and the other caller hears it is busy', async () => {
    const h = await spawn()
    const lee = await h.join('ms-lee', 'teacher', { room: 'home', kind: 'one-on-one' })
    const kim = await h.join('mr-kim', 'teacher', { room: 'class-b', kind: 'class' })
    kim.on('error', () => {})
    // the lamp's app: one session per room; it rings (`call.ringing`) for a call to it, as the page does
    const rings: string[] = []
    const lampIn = async (room: string): Promise<SignalingClient> => {
      const c = await h.join('lamp', 'student', { room })
      c.on('event', ({ event }) => {
        if (event.type !== 'call.initiate' || event.callee !== 'lamp') return
        rings.push(room)
        c.action('call.ringing', { callId: event.callId })
      })
      return c
    }
    const atHome = await lampIn('home')
    const inClass = await lampIn('class-b')
    await kim.waitFor((st) => st.participants.lamp !== undefined, { signal: AbortSignal.timeout(2_000) })

    expect(await outcome(lee, () => lee.action('call.initiate', { callId: 'h1', callee: 'lamp' }))).toBe(
      'call.initiate',
    )
    await lee.waitFor((st) => st.call?.status === 'ringing', { signal: AbortSignal.timeout(2_000) })
    // before: 'call.initiate', and the lamp rang in its class too
    const call = (callId: string) =>
      outcome(kim, () => kim.action('call.initiate', { callId, callee: 'lamp' }))
    expect(await call('k1')).toBe('ERR_BUSY')
    expect(rings).toEqual(['home'])
    expect(inClass.state!.call).toBeNull()

    // answered, it is still busy; hung up, the class may call it
    atHome.action('call.accept', { callId: 'h1' })
    await lee.waitFor((st) => st.call?.status === 'accepted', { signal: AbortSignal.timeout(2_000) })
    expect(await call('k2')).toBe('ERR_BUSY')
    expect(await outcome(lee, () => lee.action('call.end', { callId: 'h1' }))).toBe('call.end')
    expect(await call('k3')).toBe('call.initiate')
    await inClass.waitFor((st) => st.call?.status === 'ringing', { signal: AbortSignal.timeout(2_000) })
    expect(rings).toEqual(['home', 'class-b'])
    // and now home is the one that waits
    expect(await outcome(lee, () => lee.action('call.initiate', { callId: 'h2', callee: 'lamp' }))).toBe(
      'ERR_BUSY',
    )
  })

  it('keeps a teacher in one call too, and says nothing of people not in the room', async () => {
    const h = await spawn()
    const lee = await h.join('ms-lee', 'teacher', { room: 'home', kind: 'one-on-one' })
    await h.join('lamp', 'student', { room: 'home' })
    const leeInClass = await h.join('ms-lee', 'teacher', { room: 'class-c', kind: 'class' })
    leeInClass.on('error', () => {})
    await h.join('ben', 'student', { room: 'class-c' })
    await leeInClass.waitFor((st) => st.participants.ben !== undefined, {
      signal: AbortSignal.timeout(2_000),
    })
    expect(await outcome(lee, () => lee.action('call.initiate', { callId: 'h1', callee: 'lamp' }))).toBe(
      'call.initiate',
    )
    const call = (callee: string) =>
      outcome(leeInClass, () => leeInClass.action('call.initiate', { callId: `c-${callee}`, callee }))
    expect(await call('ben')).toBe('ERR_BUSY')
    // the lamp is busy, but not in this room: the refusal is the one for anyone not here
    expect(await call('lamp')).toBe('ERR_NOT_IN_ROOM')
  })
})
