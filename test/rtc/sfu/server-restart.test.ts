/**
 * The rtc server restarts (a deploy, a crash and its supervisor) while a teacher publishes to a
 * lamp: both clients come back in new sessions, and their media connections to the old SFU,
 * which would take ICE 30 s to fail, are replaced as soon as they are welcomed again.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { RTCPeerConnection } from 'werift'
import { issueToken } from '../../../rtc/auth/token.ts'
import { publish, subscribe } from '../../../rtc/client/media.ts'
import { RtpSource } from '../../../rtc/client/rtp-source.ts'
import { WeriftSfu } from '../../../rtc/sfu/sfu.ts'
import { SignalingClient } from '../../../rtc/signaling/client.ts'
import { createSignalingServer, type SignalingServer } from '../../../rtc/signaling/server.ts'
import { until } from './media-harness.ts'

const SECRET = 'test-secret-test-secret'
const cleanup: Array<() => Promise<unknown> | unknown> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

/** A signaling server with its werift SFU on `port` (0: any). */
async function start(port: number): Promise<SignalingServer> {
  const sfu = new WeriftSfu({}, { loopback: true })
  const server = await createSignalingServer({ provider: sfu }, { secret: SECRET, port })
  return server
}

/** Every state `pc` went through. */
function states(pc: RTCPeerConnection): string[] {
  const seen: string[] = []
  pc.connectionStateChange.subscribe((s) => seen.push(s))
  return seen
}

describe('an rtc server restart', () => {
  it("has the teacher publish and the lamp subscribe again at once, not after ICE's timeout", {
    timeout: 60_000,
  }, async () => {
    let server = await start(0)
    cleanup.push(() => server.close())
    const port = Number(new URL(server.url).port)
    const join = async (sub: string, role: 'teacher' | 'student'): Promise<SignalingClient> => {
      const token = issueToken(SECRET, { sub, role, room: 'r', kind: 'one-on-one' })
      const c = new SignalingClient({ url: `ws://127.0.0.1:${port}/ws`, token, reconnectMaxMs: 500 })
      cleanup.push(() => c.close())
      await c.connect()
      return c
    }
    const teacher = await join('t', 'teacher')
    const lamp = await join('lamp', 'student')
    const pub = await publish(teacher, { loopback: true })
    const source = new RtpSource({ video: pub.video, audio: pub.audio, audioLevelExtId: pub.audioLevelExtId })
    source.start()
    pub.onKeyframeRequest(() => source.keyframe())
    const sub = await subscribe(lamp, { loopback: true })
    cleanup.push(
      () => source.stop(),
      () => pub.close(),
      () => sub.close(),
    )
    let packets = 0
    sub.onPacket(() => {
      packets++
    })
    await until(() => packets > 10, 'video before the restart')
    const sessions = [teacher.session, lamp.session]
    const oldPub = pub.pc
    const oldSub = sub.pc
    const oldStates = [states(oldPub), states(oldSub)]

    const rejoined = [teacher, lamp].map((c) => new Promise((r) => c.once('welcome', r)))
    await server.close()
    server = await start(port)
    await Promise.all(rejoined)
    // new sessions: the new server knew neither
    expect([teacher.session, lamp.session]).not.toContain(sessions[0])
    expect([teacher.session, lamp.session]).not.toContain(sessions[1])
    const before = packets
    await until(() => packets > before + 10, 'video after the restart', 20_000)
    // replaced by new connections, the old ones closed by the clients, never left to fail
    expect(pub.pc).not.toBe(oldPub)
    expect(sub.pc).not.toBe(oldSub)
    for (const seen of oldStates) expect(seen).not.toContain('failed')
    expect([oldPub.connectionState, oldSub.connectionState]).toEqual(['closed', 'closed'])
  })
})
