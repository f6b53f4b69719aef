/** Signaling server + werift SFU + werift peers on 127.0.0.1. */
import { type Publication, publish, type Subscription, subscribe } from '../../../rtc/client/media.ts'
import { RtpSource, type RtpSourceInit } from '../../../rtc/client/rtp-source.ts'
import type { RoomKind } from '../../../rtc/room/types.ts'
import { WeriftSfu, type WeriftSfuInit } from '../../../rtc/sfu/sfu.ts'
import type { SignalingClient } from '../../../rtc/signaling/client.ts'
import type { SignalingInit } from '../../../rtc/signaling/server.ts'
import { type Harness, spawn } from '../signaling/harness.ts'

export interface MediaHarness extends Harness {
  sfu: WeriftSfu
  publisher(
    user: string,
    role: 'teacher' | 'student',
    room: string,
    kind: RoomKind,
    src?: Partial<RtpSourceInit>,
  ): Promise<{
    sig: SignalingClient
    pub: Publication
    source: RtpSource
  }>
  receiver(
    user: string,
    room: string,
    role?: 'student' | 'parent' | 'teacher',
  ): Promise<{ sig: SignalingClient; sub: Subscription }>
}

export async function spawnMedia(
  init: WeriftSfuInit = {},
  signaling: Partial<SignalingInit> = {},
): Promise<MediaHarness> {
  const sfu = new WeriftSfu({}, { loopback: true, ...init })
  const h = await spawn(signaling, sfu)
  const cleanup: Array<() => Promise<void> | void> = []
  return {
    ...h,
    sfu,
    async publisher(user, role, room, kind, src = {}) {
      const sig = await h.join(user, role, { room, kind })
      const pub = await publish(sig, { loopback: true })
      const source = new RtpSource({
        video: pub.video,
        audio: pub.audio,
        audioLevelExtId: pub.audioLevelExtId,
        ...src,
      })
      pub.onKeyframeRequest(() => source.keyframe())
      source.start()
      cleanup.push(
        () => source.stop(),
        () => pub.close(),
      )
      return { sig, pub, source }
    },
    async receiver(user, room, role = 'student') {
      const sig = await h.join(user, role, { room })
      const sub = await subscribe(sig, { loopback: true })
      cleanup.push(() => sub.close())
      return { sig, sub }
    },
    async teardown() {
      for (const c of cleanup) await c()
      await h.teardown()
    },
  }
}

/** Resolves once `pred` holds, polling on the event loop (no fixed sleeps). */
export async function until(
  pred: () => boolean | Promise<boolean>,
  what = 'condition',
  limitMs = 30_000,
): Promise<void> {
  const start = Date.now()
  while (!(await pred())) {
    if (Date.now() - start > limitMs) throw new Error(`gave up waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
