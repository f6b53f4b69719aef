/**
 * Each participant has a small allowance for changing its own hand (and leaving the stage): a
 * student toggling its hand as fast as the connection allows no longer floods the class with
 * events, and is told so with a rate-limit error while its connection stays up.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MAX_TOGGLES_BURST, TOGGLE_REFILL_MS } from '../../../rtc/constants.ts'
import type { RoomEvent } from '../../../rtc/room/types.ts'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness | undefined
afterEach(async () => {
  vi.useRealTimers()
  await h?.teardown()
  h = undefined
})

/**
 * Resolves once the server has handled everything `c` sent before and `c` has read the replies.
 * Two round trips: an error reply is sent a microtask after its message, possibly after the
 * first pong; the second ping is sent only once the first pong arrived, so it is read after them.
 */
async function settled(c: SignalingClient): Promise<void> {
  for (let i = 0; i < 2; i++) {
    c.send({ type: 'ping' })
    await c.next('pong')
  }
}

describe('hand toggles', () => {
  it('refuses toggles beyond the allowance with ERR_ACTION_RATE_LIMITED, per user', async () => {
    // the allowance refills with Date.now: frozen here, moved on by hand
    vi.useFakeTimers({ toFake: ['Date'] })
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const a = await h.join('a', 'student', { room: 'c' })
    const b = await h.join('b', 'student', { room: 'c' })
    const seen: RoomEvent[] = []
    t.on('event', ({ event }) => seen.push(event))
    const refused: string[] = []
    a.on('error', (e) => refused.push(e.code))
    // twice the allowance in one go: the connection's own limit (burst 200, 50/s) lets them through
    const sent = 2 * MAX_TOGGLES_BURST
    for (let i = 0; i < MAX_TOGGLES_BURST; i++) {
      a.action('hand.raise')
      a.action('hand.lower')
    }
    await settled(a)
    await settled(t)
    const byA = seen.filter((e) => 'by' in e && e.by === 'a')
    // before: one event per toggle, to every member of the class
    expect(byA).toHaveLength(MAX_TOGGLES_BURST)
    expect(refused).toEqual(Array(sent - MAX_TOGGLES_BURST).fill('ERR_ACTION_RATE_LIMITED'))
    // repeating a no-op costs nothing and makes no event: a's hand is down, lowering it again is fine
    // once the allowance has refilled by one
    vi.setSystemTime(Date.now() + TOGGLE_REFILL_MS)
    for (let i = 0; i < 5; i++) a.action('hand.lower')
    a.action('hand.raise')
    await settled(a)
    await t.waitFor((s) => s.hands.some((x) => x.user === 'a'))
    expect(refused).toHaveLength(sent - MAX_TOGGLES_BURST)
    // another student's allowance is its own
    b.action('hand.raise')
    await t.waitFor((s) => s.hands.some((x) => x.user === 'b'))
    // and the teacher's actions are not limited by it
    t.action('hand.accept', { user: 'a' })
    t.action('hand.dismiss', { user: 'b' })
    await t.waitFor((s) => s.stage.includes('a') && s.hands.length === 0)
  }, 20_000)
})
