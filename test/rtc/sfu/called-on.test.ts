/**
 * A class student the teacher calls on (`call.initiate` to a student not on stage) speaks: once it
 * answers, its lamp publishes, and everyone receives it until the call ends. Before, a class
 * student published from the stage only: the student accepted the call and its publish was
 * refused with ERR_FORBIDDEN, so the teacher heard and saw nothing of the student it called.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { publish, subscribe } from '../../../rtc/client/media.ts'
import { RtpSource } from '../../../rtc/client/rtp-source.ts'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

let h: MediaHarness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

describe('a class student called on', () => {
  it('publishes once it answers, is received, and stops when the call ends', async () => {
    h = await spawnMedia()
    const t = await h.join('t', 'teacher', { room: 'c', kind: 'class' })
    const watching = await subscribe(t, { loopback: true })
    const amy = await h.join('amy', 'student', { room: 'c' })
    amy.on('error', () => {})
    t.action('call.initiate', { callId: 'k1', callee: 'amy' })
    await amy.waitFor((st) => st.call?.status === 'initiating', { signal: AbortSignal.timeout(5_000) })
    // ringing is not speaking yet
    await expect(publish(amy, { loopback: true }, { attempts: 1 })).rejects.toMatchObject({
      code: 'ERR_FORBIDDEN',
    })
    amy.action('call.accept', { callId: 'k1' })
    await amy.waitFor((st) => st.call?.status === 'accepted', { signal: AbortSignal.timeout(5_000) })
    expect(amy.state!.stage).toEqual([])

    // before: ERR_FORBIDDEN, a class student publishes only from the stage
    const pub = await publish(amy, { loopback: true }, { attempts: 1 })
    const source = new RtpSource({ video: pub.video, audio: pub.audio, audioLevelExtId: pub.audioLevelExtId })
    pub.onKeyframeRequest(() => source.keyframe())
    source.start()
    try {
      const flowing = (kind: string) => watching.tracks.some((tr) => tr.kind === kind && tr.packets > 5)
      await until(
        () => flowing('video') && flowing('audio'),
        "the called student's audio and video at the teacher",
        20_000,
      )
      expect((await h.sfu.stats()).publishers).toBe(1)

      // hanging up takes the right back: the student's media is torn down
      t.action('call.end', { callId: 'k1' })
      await until(async () => (await h!.sfu.stats()).publishers === 0, 'called student unpublished', 10_000)
      await expect(publish(amy, { loopback: true }, { attempts: 1 })).rejects.toMatchObject({
        code: 'ERR_FORBIDDEN',
      })
    } finally {
      source.stop()
      await pub.close()
      await watching.close()
    }
  })
})
