/**
 * A change that changes nothing is not an event: it gets no sequence number, is not broadcast
 * and takes no place in the resume log.
 */
import { describe, expect, it } from 'vitest'
import { createRoomState, reduce } from '../../../rtc/room/reducer.ts'
import type { RoomEvent } from '../../../rtc/room/types.ts'
import { SignalingClient } from '../../../rtc/signaling/client.ts'
import { harnessPerTest } from './harness.ts'

const { spawn, closeAfter } = harnessPerTest()

describe('no-op events', () => {
  it('leaves the state as it is for a repeated presence, join or device setting', () => {
    let s = createRoomState('r', 'class')
    s = reduce(s, { type: 'join', at: 1, user: 't', role: 'teacher', kind: 'class' })
    s = reduce(s, { type: 'join', at: 1, user: 'a', role: 'student' })
    expect(reduce(s, { type: 'presence', at: 2, user: 'a', connected: true })).toBe(s)
    expect(reduce(s, { type: 'join', at: 2, user: 'a', role: 'student' })).toBe(s)
    expect(
      reduce(s, { type: 'device.applied', at: 2, by: 'a', setting: { kind: 'mute', muted: false } }),
    ).toBe(s)
    expect(
      reduce(s, { type: 'device.applied', at: 2, by: 'a', setting: { kind: 'screen', screen: 'video' } }),
    ).toBe(s)
    expect(
      reduce(s, { type: 'device.applied', at: 2, by: 'a', setting: { kind: 'camera', camera: 'face' } }),
    ).toBe(s)
    // real changes still are changes
    const away = reduce(s, { type: 'presence', at: 3, user: 'a', connected: false })
    expect(away.participants.a.connected).toBe(false)
    expect(
      reduce(away, { type: 'presence', at: 4, user: 'a', connected: true }).participants.a.connected,
    ).toBe(true)
  })

  it('broadcasts no presence when a connected user connects again', async () => {
    const h = await spawn()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    await h.join('a', 'student', { room: 'c' })
    const hub = h.server.room('c')!
    const seqBefore = hub.seq
    const seen: RoomEvent[] = []
    t.on('event', ({ event }) => seen.push(event))
    // a second tab of `a` takes the session while the first is still connected
    const newer = closeAfter(new SignalingClient({ url: h.wsUrl, token: h.token('a', 'student', 'c') }))
    await newer.connect()
    // the welcome was sent after any event the connect caused: a teacher round trip now sees it
    t.send({ type: 'ping' })
    await t.next('pong')
    // before: `presence {user: a, connected: true}` numbered and sent to the whole class
    expect(seen).toEqual([])
    expect(hub.seq).toBe(seqBefore)
    expect(newer.seq).toBe(seqBefore)
    expect(hub.state.participants.a.connected).toBe(true)
  })

  it('broadcasts no device event for a setting the lamp already has', async () => {
    const h = await spawn()
    const t = await h.join('t', 'teacher')
    await h.join('lamp', 'student', { onControl: async () => ({ ok: true }) })
    const seen: RoomEvent[] = []
    t.on('event', ({ event }) => seen.push(event))
    // the room state is updated before the ACK is relayed: the ACK comes after any event
    expect(await t.control('lamp', { kind: 'screen', screen: 'video' })).toEqual({ ok: true })
    expect(seen).toEqual([])
    expect(await t.control('lamp', { kind: 'screen', screen: 'whiteboard' })).toEqual({ ok: true })
    expect(seen.map((e) => e.type)).toEqual(['device.applied'])
  })
})
