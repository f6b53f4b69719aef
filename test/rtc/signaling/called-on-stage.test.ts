/**
 * A class student called on publishes (see `test/rtc/sfu/called-on.test.ts`), so the call takes a
 * place on the stage, whose limit (`MAX_STAGE`, 4) bounds who publishes in a class of 200: from
 * the ring until the call is over, unless the student is on stage already. Before, the callee
 * could not publish at all, and the stage filled up around a ringing call.
 */
import { describe, expect, it } from 'vitest'
import { harnessPerTest, outcome } from './harness.ts'

const { spawn } = harnessPerTest()

describe('a call in a class and the stage limit', () => {
  it('holds a stage place for the student called on, and frees it when the call ends', async () => {
    const h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    t.on('error', () => {})
    for (let i = 1; i <= 6; i++) await h.join(`c${i}`, 'student', { room: 'c' })
    const invite = (user: string) => outcome(t, () => t.action('stage.invite', { user }))
    const call = (callId: string, callee: string) =>
      outcome(t, () => t.action('call.initiate', { callId, callee }))
    for (const u of ['c1', 'c2', 'c3']) expect(await invite(u)).toBe('stage.invite')

    // three on stage and c4 called on: the stage is full
    expect(await call('k1', 'c4')).toBe('call.initiate')
    expect(await invite('c5')).toBe('ERR_STAGE_FULL')
    // ... though c4 itself may still go on stage, keeping its place
    expect(await invite('c4')).toBe('stage.invite')
    expect(await invite('c5')).toBe('ERR_STAGE_FULL')
    expect(await outcome(t, () => t.action('call.cancel', { callId: 'k1' }))).toBe('call.cancel')
    expect(await outcome(t, () => t.action('stage.remove', { user: 'c4' }))).toBe('stage.remove')

    // a call that ends frees its place
    expect(await call('k2', 'c4')).toBe('call.initiate')
    expect(await invite('c5')).toBe('ERR_STAGE_FULL')
    expect(await outcome(t, () => t.action('call.cancel', { callId: 'k2' }))).toBe('call.cancel')
    expect(await invite('c5')).toBe('stage.invite')

    // the stage full: nobody off it can be called on, a student on it can
    expect(await call('k3', 'c6')).toBe('ERR_STAGE_FULL')
    expect(await call('k4', 'c1')).toBe('call.initiate')
    expect(t.state!.stage).toEqual(['c1', 'c2', 'c3', 'c5'])
  })
})
