/** Actions missing the fields they name are refused, and user ids that name Object's own members work. */
import { afterEach, describe, expect, it } from 'vitest'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness
afterEach(async () => {
  await h?.teardown()
})

/** The error code of the next reply to `c`, or the type of the room event it got instead. */
function nextError(c: SignalingClient): Promise<string> {
  return Promise.race([c.next('error').then((e) => e.code), c.next('event').then((e) => e.event.type)])
}

describe('action fields', () => {
  it('refuses a call without an id or a callee, and starts no call', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    await h.join('a', 'student', { room: 'c' })
    let refused = nextError(t)
    t.action('call.initiate', { callee: 'a' })
    // before: a call with no id started ringing and blocked every other call
    expect(await refused).toBe('ERR_MALFORMED_MESSAGE')
    refused = nextError(t)
    t.action('call.initiate', { callId: 'k1' })
    expect(await refused).toBe('ERR_MALFORMED_MESSAGE')
    refused = nextError(t)
    t.action('stage.invite')
    expect(await refused).toBe('ERR_MALFORMED_MESSAGE')
    expect(h.server.room('c')!.state.call).toBeNull()
    // a complete one goes through
    t.action('call.initiate', { callId: 'k1', callee: 'a' })
    await t.waitFor((s) => s.call?.id === 'k1' && s.call.callee === 'a')
  })

  it('does not take inherited object members for participants', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    // before: nobody named `constructor` could join ("already joined with another role")
    const c = await h.join('constructor', 'student', { room: 'c' })
    const id: string = 'constructor'
    expect(Object.hasOwn(c.state!.participants, id) && c.state!.participants[id].role).toBe('student')
    // before: calling `toString`, who is not here, started a call to nobody
    const refused = nextError(t)
    t.action('call.initiate', { callId: 'k1', callee: 'toString' })
    expect(await refused).toBe('ERR_NOT_IN_ROOM')
    expect(h.server.room('c')!.state.call).toBeNull()
  })
})
