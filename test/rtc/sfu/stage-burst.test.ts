/**
 * A class stage that changes several times while one offer/answer round with a subscriber is
 * still open ends with as many m-lines as the same changes made slowly. Before, every track that
 * came while the round was open got a new m-line (the freed ones were not yet offered
 * `inactive`): three stage changes in one round left the watcher 9 m-lines for 4 live tracks.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { RTCPeerConnection } from 'werift'
import { type Publication, publish } from '../../../rtc/client/media.ts'
import { RtpSource } from '../../../rtc/client/rtp-source.ts'
import { peerConfig } from '../../../rtc/sfu/peer-config.ts'
import { SubscriberHub } from '../../../rtc/sfu/subscriber-hub.ts'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import type { ClientMessage } from '../../../rtc/signaling/messages.ts'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

let h: MediaHarness | undefined
let hub: SubscriberHub | undefined
let peer: RTCPeerConnection | undefined
afterEach(async () => {
  await h?.teardown()
  await peer?.close()
  await hub?.close()
  h = undefined
  hub = undefined
  peer = undefined
})

const mLines = (sdp: string | undefined): number => sdp?.match(/^m=/gm)?.length ?? 0

/**
 * Holds `sig`'s subscribe answers until `release()`: the SFU's offer stays unanswered, as on a
 * slow link, however long the test takes to change the stage.
 */
function holdAnswers(sig: SignalingClient): { held(): number; release(): void } {
  const send = sig.send.bind(sig)
  const held: ClientMessage[] = []
  let holding = true
  sig.send = (msg: ClientMessage): boolean => {
    if (holding && msg.type === 'subscribe-answer') {
      held.push(msg)
      return true
    }
    return send(msg)
  }
  return {
    held: () => held.length,
    release: () => {
      holding = false
      for (const msg of held.splice(0)) send(msg)
    },
  }
}

describe('a stage changing faster than one offer/answer round', () => {
  it('ends with as many m-lines as slow changes, and the last publisher is received on them', async () => {
    h = await spawnMedia()
    const room = 'c'
    const teacher = await h.publisher('t', 'teacher', room, 'class', { fps: 15, payloadBytes: 500 })
    const watcher = await h.receiver('w', room)
    /** The largest number of m-lines any offer to the watcher had. */
    let widest = 0
    watcher.sig.on('subscribe-offer', (sdp: string) => {
      widest = Math.max(widest, mLines(sdp))
    })
    const received = (user: string, kind: string, more = 10): boolean =>
      watcher.sub.tracks.some((t) => t.user === user && t.kind === kind && t.packets > more)
    await until(() => received('t', 'video'), 'teacher video')

    const onStage: Array<{ pub: Publication; source: RtpSource }> = []
    /** Invites `user` onto the stage and publishes its camera once it is there. */
    const goOnStage = async (user: string): Promise<void> => {
      const sig = await h!.join(user, 'student', { room })
      teacher.sig.action('stage.invite', { user })
      await sig.waitFor((st) => st.stage.includes(user), { signal: AbortSignal.timeout(10_000) })
      const pub = await publish(sig, { loopback: true })
      const source = new RtpSource({
        video: pub.video,
        audio: pub.audio,
        audioLevelExtId: pub.audioLevelExtId,
        fps: 15,
      })
      pub.onKeyframeRequest(() => source.keyframe())
      source.start()
      onStage.push({ pub, source })
      await until(async () => (await h!.sfu.stats()).tracks === 4, `${user}'s tracks at the SFU`)
    }
    /** Takes `user` off the stage: the server unpublishes its media. */
    const leaveStage = async (user: string): Promise<void> => {
      teacher.sig.action('stage.remove', { user })
      await until(async () => (await h!.sfu.stats()).publishers === 1, `${user} unpublished`)
      const { pub, source } = onStage.shift()!
      source.stop()
      await pub.close()
    }

    try {
      // slowly: the first student's pair joins the teacher's, 4 m-lines
      await goOnStage('s0')
      await until(() => received('s0', 'video') && received('s0', 'audio'), "s0's media")
      expect(mLines(watcher.sub.pc.remoteDescription?.sdp)).toBe(4)

      // the watcher stops answering; s0 leaving makes an offer (its pair `inactive`) it holds
      const hold = holdAnswers(watcher.sig)
      await leaveStage('s0')
      await until(() => hold.held() === 1, 'the offer taking s0 away, answered and held')
      // three more changes while that round is open
      await goOnStage('s1')
      await leaveStage('s1')
      await goOnStage('s2')
      await leaveStage('s2')
      await goOnStage('s3')
      hold.release()

      // s3 arrives on the m-lines s0 left: the teacher's pair and one student's, as when slow
      await until(() => received('s3', 'video') && received('s3', 'audio', 5), "s3's media")
      expect(mLines(watcher.sub.pc.remoteDescription?.sdp)).toBe(4)
      expect(widest).toBe(4)
      // nobody in between was ever offered, nor is any packet counted for them
      expect(watcher.sub.tracks.filter((t) => t.user === 's1' || t.user === 's2')).toEqual([])
      expect(watcher.sub.tracks).toHaveLength(4)
      const before = watcher.sub.tracks.find((t) => t.user === 't' && t.kind === 'video')!.packets
      await until(() => received('t', 'video', before + 10), 'teacher video at the end')
    } finally {
      for (const { pub, source } of onStage) {
        source.stop()
        await pub.close()
      }
    }
  })
})

describe('a line freed while a track of its kind arrives', () => {
  it('is reused once its `inactive` offer went out, not doubled, when both happen in one tick', async () => {
    const offers: string[] = []
    const waiters: Array<() => void> = []
    hub = new SubscriberHub(
      {
        offer: (_room, _user, sdp) => {
          offers.push(sdp)
          waiters.shift()?.()
        },
        keyframe: () => {},
      },
      { loopback: true },
    )
    peer = new RTCPeerConnection(peerConfig({ loopback: true }))
    const subscriber = peer
    let answered = 0
    /** Answers every offer not answered yet, as a werift subscriber would, waiting for one if none. */
    const answerNext = async (): Promise<string> => {
      if (offers.length === answered) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no offer came')), 10_000)
          waiters.push(() => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
      const sdp = offers[answered++]
      await subscriber.setRemoteDescription({ type: 'offer', sdp })
      await subscriber.setLocalDescription(await subscriber.createAnswer())
      await hub!.answer('r', 'w', subscriber.localDescription!.sdp)
      return sdp
    }
    await hub.subscribe('r', 'w')
    await answerNext()
    hub.addTrack({ id: 'a/video', room: 'r', owner: 'a', kind: 'video' })
    expect(await answerNext()).toContain('a=msid:a ')
    // the stage changes from a to b at once: a's line goes idle as b's video comes
    hub.removeTrack('a/video')
    hub.addTrack({ id: 'b/video', room: 'r', owner: 'b', kind: 'video' })
    let sdp = await answerNext()
    while (!sdp.includes('a=msid:b ')) sdp = await answerNext()
    // before: b got a second video m-line beside a's idle one
    expect(offers.map(mLines)).toEqual(offers.map(() => 1))
    expect(sdp).toContain('a=sendonly')
  }, 20_000)
})
