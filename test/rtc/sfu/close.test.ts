/**
 * Stopping the SFU while media is still being set up: close() tears down everything, including
 * what was queued or under way when it ran (a class joining, a publish being answered).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MediaStreamTrack, RTCPeerConnection } from 'werift'
import { peerConfig } from '../../../rtc/sfu/peer-config.ts'
import { WeriftSfu } from '../../../rtc/sfu/sfu.ts'
import { type MediaHarness, spawnMedia } from './media-harness.ts'

let h: MediaHarness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

describe('closing the SFU', () => {
  it('leaves no receive connection behind for subscribers still queued for a join slot', async () => {
    // one join slot: s1 holds it (its offer is never answered), s2 waits in the queue
    h = await spawnMedia({ maxConcurrentJoins: 1 })
    await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const s1 = await h.join('s1', 'student', { room: 'c' })
    const s2 = await h.join('s2', 'student', { room: 'c' })
    const offered = s1.next('subscribe-offer')
    s1.send({ type: 'subscribe' })
    await offered
    s2.send({ type: 'subscribe' })
    // messages are handled in order: once the pong is back, s2's subscribe waits for the slot
    const pong = s2.next('pong')
    s2.send({ type: 'ping' })
    await pong
    expect((await h.sfu.stats()).subscribers).toBe(1)
    await h.server.close()
    // before: closing s1 gave its slot to s2, whose connection was then made and never closed
    expect((await h.sfu.stats()).subscribers).toBe(0)
  })

  it('makes no publish connection for a publish still being set up when it closed', async () => {
    const sfu = new WeriftSfu({}, { loopback: true })
    sfu.attach({ offer() {}, speaker() {} })
    const pc = new RTCPeerConnection(peerConfig({ loopback: true }))
    try {
      pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' })
      await pc.setLocalDescription(await pc.createOffer())
      const answered = sfu.publish('r', 'lamp', pc.localDescription!.sdp)
      answered.catch(() => {})
      await sfu.close()
      await expect(answered).rejects.toMatchObject({ code: 'ERR_MEDIA' })
      expect((await sfu.stats()).publishers).toBe(0)
    } finally {
      await pc.close()
    }
  })
})
