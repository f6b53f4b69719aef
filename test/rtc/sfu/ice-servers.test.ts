/**
 * STUN/TURN servers (`--ice-server`): every connection the SFU makes gathers with them, publish
 * and receive, in the main thread and in worker shards, and Node clients make theirs with the
 * servers of their welcome. Seen at a STUN server on loopback, which gets their Binding requests.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MediaStreamTrack, RTCPeerConnection } from 'werift'
import { publish, subscribe } from '../../../rtc/client/media.ts'
import { RtpSource } from '../../../rtc/client/rtp-source.ts'
import { peerConfig } from '../../../rtc/sfu/peer-config.ts'
import { WeriftSfu } from '../../../rtc/sfu/sfu.ts'
import { spawnMedia, until } from './media-harness.ts'
import { startStunServer } from './stun-server.ts'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

describe('ICE servers', () => {
  it.each([
    ['in the main thread', 0],
    ['in a worker shard', 1],
  ])('are used by the SFU for publish and receive connections %s', async (_where, shards) => {
    const stun = await startStunServer()
    cleanup.push(() => stun.close())
    const sfu = new WeriftSfu({}, { loopback: true, shards, iceServers: [{ urls: stun.url }] })
    cleanup.push(() => sfu.close())
    const offered: string[] = []
    sfu.attach({ offer: (_r, user) => offered.push(user), speaker() {} })
    // the publisher's own connection gathers on loopback only: what reaches the STUN server is the SFU's
    const pc = new RTCPeerConnection(peerConfig({ loopback: true }))
    cleanup.push(() => pc.close())
    pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' })
    await pc.setLocalDescription(await pc.createOffer())
    await sfu.publish('r', 't', pc.localDescription!.sdp)
    const afterPublish = stun.requests
    expect(afterPublish).toBeGreaterThan(0)
    await sfu.subscribe('r', 's')
    await until(() => offered.includes('s'), 'the offer to s', 10_000)
    // before, receive connections were made without them (the shards' options dropped them)
    expect(stun.requests).toBeGreaterThan(afterPublish)
  })

  it("are used by lamps' publish and receive connections, from the welcome", async () => {
    const stun = await startStunServer()
    cleanup.push(() => stun.close())
    const iceServers = [{ urls: stun.url }]
    const h = await spawnMedia({ iceServers }, { iceServers })
    cleanup.push(() => h.teardown())
    const teacher = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
    const lamp = await h.join('lamp', 'student', { room: 'r' })
    expect(lamp.iceServers).toEqual(iceServers)
    // no iceServers of their own: the welcome's
    const pub = await publish(teacher, { loopback: true })
    const source = new RtpSource({ video: pub.video, audio: pub.audio, audioLevelExtId: pub.audioLevelExtId })
    source.start()
    pub.onKeyframeRequest(() => source.keyframe())
    cleanup.push(
      () => source.stop(),
      () => pub.close(),
    )
    const sub = await subscribe(lamp, { loopback: true })
    cleanup.push(() => sub.close())
    expect(pub.pc.config.iceServers).toEqual(iceServers)
    expect(sub.pc.config.iceServers).toEqual(iceServers)
    await until(() => sub.tracks.some((t) => t.kind === 'video' && t.packets > 10), 'video at the lamp')
  })
})
