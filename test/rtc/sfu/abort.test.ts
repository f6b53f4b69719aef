/**
 * Aborting the SFU's media calls (`RtcProvider` `{ signal }`): a publish or subscribe negotiation
 * aborted under way stops at once, rejects with `AbortError` and leaves nothing allocated, and
 * the room works for the next one. "Under way" is made observable and long enough with a STUN
 * server that holds werift's gathering (it waits up to 5 s for an answer).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MediaStreamTrack, RTCPeerConnection } from 'werift'
import { publish } from '../../../rtc/client/media.ts'
import { RtpSource } from '../../../rtc/client/rtp-source.ts'
import { peerConfig } from '../../../rtc/sfu/peer-config.ts'
import { WeriftSfu } from '../../../rtc/sfu/sfu.ts'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'
import { type StunServer, startStunServer } from './stun-server.ts'

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c()
})

const udpSockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap').length

/** A publisher's offer (sendonly audio + video), from a connection that gathers on loopback only. */
async function offer(): Promise<string> {
  const pc = new RTCPeerConnection(peerConfig({ loopback: true }))
  cleanup.push(() => pc.close())
  pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' })
  pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' })
  await pc.setLocalDescription(await pc.createOffer())
  return pc.localDescription!.sdp
}

async function stun(hold: boolean): Promise<StunServer> {
  const s = await startStunServer({ hold })
  cleanup.push(() => s.close())
  return s
}

async function media(stunUrl: string, init: Parameters<typeof spawnMedia>[0] = {}): Promise<MediaHarness> {
  const h = await spawnMedia({ iceServers: [{ urls: stunUrl }], ...init })
  cleanup.push(() => h.teardown())
  return h
}

describe('aborting SFU negotiations', () => {
  it('refuses a call whose signal has already aborted, making no connection', async () => {
    const s = await stun(false)
    const sfu = new WeriftSfu({}, { loopback: true, iceServers: [{ urls: s.url }] })
    cleanup.push(() => sfu.close())
    const offers: string[] = []
    sfu.attach({ offer: (_r, u) => offers.push(u), speaker() {} })
    const signal = AbortSignal.abort()
    const sdp = await offer()
    await expect(sfu.publish('r', 't', sdp, { signal })).rejects.toMatchObject({
      name: 'AbortError',
      code: 'ERR_ABORTED',
    })
    await expect(sfu.subscribe('r', 's', { signal })).rejects.toMatchObject({ name: 'AbortError' })
    await expect(sfu.answer('r', 's', 'v=0', { signal })).rejects.toMatchObject({ name: 'AbortError' })
    expect(await sfu.stats()).toMatchObject({ publishers: 0, subscribers: 0, tracks: 0 })
    // no connection was made: none gathered with the STUN server, none offered
    expect(s.requests).toBe(0)
    expect(offers).toEqual([])
  })

  it('stops a publish aborted mid-negotiation, frees its connection and tracks, and the next publish works', async () => {
    const s = await stun(false)
    const h = await media(s.url)
    const teacher = await h.join('t', 'teacher', { room: 'r', kind: 'group' })
    const { sub } = await h.receiver('s', 'r')
    const sdp = await offer()
    const sockets = udpSockets()
    s.hold = true
    const controller = new AbortController()
    const started = Date.now()
    const answered = h.sfu.publish('r', 't', sdp, { signal: controller.signal })
    answered.catch(() => {})
    // the SFU's connection is gathering: its tracks are in the room, its answer is not made
    await s.nextRequest()
    expect(await h.sfu.stats()).toMatchObject({ publishers: 1, tracks: 2 })
    controller.abort()
    await expect(answered).rejects.toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' })
    // at once, not when werift's 5 s STUN gathering gives up
    expect(Date.now() - started).toBeLessThan(4_000)
    expect(await h.sfu.stats()).toMatchObject({ publishers: 0, tracks: 0, subscribers: 1 })
    await until(() => udpSockets() <= sockets, "the aborted connection's sockets closed", 10_000)
    // the room still works: the teacher publishes for real and the student receives it
    s.hold = false
    const pub = await publish(teacher, { loopback: true })
    const source = new RtpSource({ video: pub.video, audio: pub.audio, audioLevelExtId: pub.audioLevelExtId })
    pub.onKeyframeRequest(() => source.keyframe())
    source.start()
    cleanup.push(
      () => source.stop(),
      () => pub.close(),
    )
    await until(() => sub.tracks.some((t) => t.kind === 'video' && t.packets > 10), 'video at the student')
    expect(await h.sfu.stats()).toMatchObject({ publishers: 1, tracks: 2 })
  })

  it.each([
    ['in the main thread', 0],
    ['in a worker shard', 1],
  ])('stops a subscribe aborted mid-negotiation %s and gives its join slot back', async (_where, shards) => {
    const s = await stun(true)
    const sfu = new WeriftSfu(
      {},
      { loopback: true, iceServers: [{ urls: s.url }], shards, maxConcurrentJoins: 1 },
    )
    cleanup.push(() => sfu.close())
    const offers: string[] = []
    sfu.attach({ offer: (_r, u) => offers.push(u), speaker() {} })
    const controller = new AbortController()
    const subscribed = sfu.subscribe('r', 's1', { signal: controller.signal })
    subscribed.catch(() => {})
    await s.nextRequest()
    expect((await sfu.stats()).subscribers).toBe(1)
    controller.abort()
    await expect(subscribed).rejects.toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED' })
    expect((await sfu.stats()).subscribers).toBe(0)
    // the one join slot is free again: the next subscriber gets its offer (a held slot would keep
    // it queued for JOIN_SLOT_TIMEOUT_MS, 10 s); the aborted one never gets one
    s.hold = false
    await sfu.subscribe('r', 's2')
    await until(() => offers.includes('s2'), 'the offer to s2', 5_000)
    expect(offers).toEqual(['s2'])
    expect((await sfu.stats()).subscribers).toBe(1)
  })

  it('takes a subscribe aborted while queued for a join slot out of the queue', async () => {
    const s = await stun(false)
    const sfu = new WeriftSfu({}, { loopback: true, iceServers: [{ urls: s.url }], maxConcurrentJoins: 1 })
    cleanup.push(() => sfu.close())
    const offers: string[] = []
    sfu.attach({ offer: (_r, u) => offers.push(u), speaker() {} })
    // s1 holds the slot: its offer is never answered
    await sfu.subscribe('r', 's1')
    const controller = new AbortController()
    const queued = sfu.subscribe('r', 's2', { signal: controller.signal })
    queued.catch(() => {})
    controller.abort()
    await expect(queued).rejects.toMatchObject({ name: 'AbortError' })
    // s1 leaving frees the slot for s3, not for the aborted s2
    await sfu.leave('r', 's1')
    await sfu.subscribe('r', 's3')
    await until(() => offers.includes('s3'), 'the offer to s3', 5_000)
    expect(offers).toEqual(['s1', 's3'])
    expect((await sfu.stats()).subscribers).toBe(1)
  })
})

describe('the signaling server aborting a negotiation', () => {
  /** The teacher's publish offer sent over signaling, resolved once the SFU is gathering for it. */
  async function publishing(h: MediaHarness, s: StunServer) {
    const teacher = await h.join('t', 'teacher', { room: 'r', kind: 'group' })
    const sdp = await offer()
    s.hold = true
    const gathering = s.nextRequest()
    teacher.send({ type: 'publish', sdp, rid: 'p1' })
    await gathering
    expect(await h.sfu.stats()).toMatchObject({ publishers: 1, tracks: 2 })
    return teacher
  }

  it('frees a publish connection being set up when its client leaves', async () => {
    const s = await stun(false)
    const h = await media(s.url)
    const student = await h.join('s', 'student', { room: 'r', kind: 'group' })
    const teacher = await publishing(h, s)
    teacher.close()
    await student.waitFor((state) => state.participants.t === undefined)
    // before, the publish went on gathering for 5 s with its connection and tracks in the room
    expect(await h.sfu.stats()).toMatchObject({ publishers: 0, tracks: 0 })
  })

  it('frees a publish connection being set up when another client logs in as its user', async () => {
    const s = await stun(false)
    const h = await media(s.url)
    await publishing(h, s)
    // the new client knows nothing of the old one's offer and will not take its answer
    await h.join('t', 'teacher', { room: 'r', kind: 'group' })
    expect(await h.sfu.stats()).toMatchObject({ publishers: 0, tracks: 0 })
  })
})
