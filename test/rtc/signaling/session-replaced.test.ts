/**
 * One user connected twice (a second tab, a lamp restarted while its old process lingers): the
 * newer connection takes the session and the older one is refused, so it does not reconnect and
 * take the session back.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { SignalingClient } from '../../../rtc/signaling/client.ts'
import { type Harness, spawn } from './harness.ts'

let h: Harness
const extra: SignalingClient[] = []
afterEach(async () => {
  for (const c of extra.splice(0)) c.close()
  await h?.teardown()
})

describe('a user connecting twice', () => {
  it('closes the older connection with a refusal, and the newer one keeps the session', async () => {
    h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const older = await h.join('a', 'student', { room: 'c' })
    const closed = new Promise<{ code: number; reason: string }>((r) => older.once('closed', r))
    const newer = new SignalingClient({ url: h.wsUrl, token: h.token('a', 'student', 'c') })
    extra.push(newer)
    const newerClosed: number[] = []
    newer.on('closed', ({ code }) => newerClosed.push(code))
    await newer.connect()
    // before: closed with 4000, the older client resumed and replaced the newer one, which did
    // the same in turn, ten times a second for as long as both ran
    const { code, reason } = await closed
    expect(code).toBe(4410)
    expect(reason).toMatch(/^ERR_SESSION_REPLACED/)
    // the newer connection still answers, and the class sees one participant `a`
    newer.send({ type: 'ping' })
    await newer.next('pong')
    expect(newerClosed).toEqual([])
    const hub = h.server.room('c')!
    expect(Object.keys(hub.state.participants).sort()).toEqual(['a', 't'])
    expect(hub.state.participants.a.connected).toBe(true)
    expect(t.state!.participants.a.connected).toBe(true)
  })

  it('refuses the stale connection a resume replaces too', async () => {
    h = await spawn()
    await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const first = await h.join('a', 'student', { room: 'c' })
    const closed = new Promise<{ code: number }>((r) => first.once('closed', r))
    // a second client holding the same session (as a lamp process restarted from saved state)
    const second = new SignalingClient({ url: h.wsUrl, token: h.token('a', 'student', 'c') })
    extra.push(second)
    Object.assign(second, { session: first.session, seq: first.seq })
    await second.connect()
    expect((await closed).code).toBe(4410)
    second.send({ type: 'ping' })
    await second.next('pong')
  })
})
