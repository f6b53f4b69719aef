/**
 * A lamp whose signaling socket drops just as it sends its publish offer (a Wi-Fi hiccup, the
 * same one that failed its media connection and made it publish again): the request is lost
 * with the socket. publish() used to wait for its answer for ever, so the call stayed without
 * the lamp's camera; it now sends the offer again once the client is back in the room.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { publish } from '../../../rtc/client/media.ts'
import { RtpSource } from '../../../rtc/client/rtp-source.ts'
import type { ClientMessage } from '../../../rtc/signaling/messages.ts'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

let h: MediaHarness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/** Rejects after `ms` (a bound on a wait that used to hang, not a speed target). */
function hangs(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} never settled`)), ms).unref())
}

describe('publishing across a signaling drop', () => {
  it('publishes once the client is back when the socket dropped as the offer went out', async () => {
    h = await spawnMedia()
    // the teacher watches; the lamp of a student in its group publishes its desk camera
    const teacher = await h.receiver('t', 'r', 'teacher')
    const lamp = await h.join('lamp', 'student', { room: 'r' })
    const send = lamp.send.bind(lamp)
    let dropped = false
    lamp.send = (msg: ClientMessage): boolean => {
      // the socket dies as the publish goes out: the request is lost with it
      if (msg.type === 'publish' && !dropped) {
        dropped = true
        lamp.drop()
      }
      return send(msg)
    }
    const pub = await Promise.race([publish(lamp, { loopback: true }), hangs(30_000, 'publish')])
    expect(dropped).toBe(true)
    const source = new RtpSource({ video: pub.video, audio: pub.audio, audioLevelExtId: pub.audioLevelExtId })
    pub.onKeyframeRequest(() => source.keyframe())
    source.start()
    try {
      await until(() => teacher.sub.tracks.some((t) => t.kind === 'video' && t.packets > 10), 'lamp video')
      expect((await h.sfu.stats()).publishers).toBe(1)
    } finally {
      source.stop()
      await pub.close()
    }
  })
})
