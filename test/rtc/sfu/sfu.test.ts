import { createHash } from 'node:crypto'
import { getEventListeners } from 'node:events'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { GenericNack, RtcpTransportLayerFeedback } from 'werift'
import type WebSocket from 'ws'
import { publish, subscribe } from '../../../rtc/client/media.ts'
import { OPUS_SILENCE, readIvf } from '../../../rtc/client/rtp-source.ts'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

const sample = fileURLToPath(new URL('../fixtures/sample-vp8.ivf', import.meta.url))
const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

let h: MediaHarness
afterEach(async () => {
  await h?.teardown()
})

describe('werift SFU', () => {
  it('forwards a 1:1 call of real VP8/Opus intact and tears it down when the lamp leaves', async () => {
    h = await spawnMedia()
    const frames = readIvf(sample)
    // every RTP payload the publisher can produce from the sample: VP8 descriptor + frame slice
    const valid = new Set<string>()
    for (const f of frames) {
      for (let o = 0; o < f.data.length; o += 1100) {
        valid.add(digest(Buffer.concat([Buffer.from([o === 0 ? 0x10 : 0]), f.data.subarray(o, o + 1100)])))
      }
    }
    const teacher = await h.publisher('t', 'teacher', 'r', 'one-on-one', { frames, fps: 15 })
    const { sig, sub } = await h.receiver('lamp', 'r')
    let video = 0
    let audio = 0
    const bad: string[] = []
    sub.onPacket((kind, p) => {
      if (kind === 'video') {
        video++
        if (!valid.has(digest(p))) bad.push(`video ${p.length}`)
      } else {
        audio++
        if (!p.equals(OPUS_SILENCE)) bad.push(`audio ${p.length}`)
      }
    })
    await until(() => video > 40 && audio > 20, 'media at the lamp')
    expect(bad).toEqual([])
    expect(sub.tracks.map((t) => t.kind).sort()).toEqual(['audio', 'video'])
    // joining asked the teacher for a keyframe
    expect(teacher.pub.plis()).toBeGreaterThan(0)
    // werift peers negotiate AES-GCM, so both outputs took the fast SRTP path
    expect((await h.sfu.stats()).fastOutputs).toBe(2)
    // which still sends RTCP sender reports with the forwarded packet counts
    const videoTr = sub.pc.getTransceivers().find((t) => t.kind === 'video')!
    const rx = videoTr.receiver as unknown as { remotePacketCountBySsrc: Record<number, number> }
    await until(() => Object.values(rx.remotePacketCountBySsrc).some((n) => n > 0), 'a sender report')
    sig.close()
    await until(async () => (await h.sfu.stats()).subscribers === 0, 'lamp torn down')
  })

  it('runs a group of 6 students and a teacher, everyone receiving everyone else', async () => {
    h = await spawnMedia()
    const users = ['t', 's1', 's2', 's3', 's4', 's5', 's6']
    const pubs = []
    for (const u of users)
      pubs.push(await h.publisher(u, u === 't' ? 'teacher' : 'student', 'g', 'group', { fps: 10 }))
    const subs = await Promise.all(pubs.map((p) => subscribe(p.sig, { loopback: true })))
    try {
      await until(
        () => subs.every((s) => s.tracks.length === 12 && s.tracks.every((t) => t.packets > 5)),
        'every track at every member',
      )
      expect(Object.keys(h.server.room('g')!.state.participants)).toHaveLength(7)
    } finally {
      await Promise.all(subs.map((s) => s.close()))
    }
  })

  it('asks the publisher for a keyframe when a subscriber joins late or sends a PLI', async () => {
    h = await spawnMedia({ pliThrottleMs: 50 })
    const teacher = await h.publisher('t', 'teacher', 'c', 'class')
    const early = await h.receiver('early', 'c')
    await until(() => early.sub.packets() > 10, 'media at the early student')
    const before = teacher.pub.plis()
    await new Promise((r) => setTimeout(r, 60)) // let the throttle window pass
    const late = await h.receiver('late', 'c')
    await until(() => teacher.pub.plis() > before, 'keyframe request from the late join')
    await until(
      () => late.sub.tracks.some((t) => t.kind === 'video' && t.packets > 5),
      'video at the late student',
    )
    // a subscriber's own PLI is forwarded too
    const afterJoin = teacher.pub.plis()
    await new Promise((r) => setTimeout(r, 60))
    const video = late.sub.tracks.find((t) => t.kind === 'video')!
    const tr = late.sub.pc.getTransceivers().find((t) => t.kind === 'video')!
    await tr.receiver.sendRtcpPLI(video.ssrc)
    await until(() => teacher.pub.plis() > afterJoin, 'forwarded PLI')
  })

  it('answers a subscriber NACK from the history', async () => {
    h = await spawnMedia()
    await h.publisher('t', 'teacher', 'r', 'one-on-one')
    const { sub } = await h.receiver('lamp', 'r')
    const seen = new Map<number, number>()
    sub.onPacket((kind, _p, seq) => {
      if (kind === 'video') seen.set(seq, (seen.get(seq) ?? 0) + 1)
    })
    await until(() => seen.size > 10, 'video')
    const video = sub.tracks.find((t) => t.kind === 'video')!
    const lost = [...seen.keys()].slice(2, 5)
    const tr = sub.pc.getTransceivers().find((t) => t.kind === 'video')!
    await tr.dtlsTransport.sendRtcp([
      new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: 1234, mediaSourceSsrc: video.ssrc, lost }),
      }),
    ])
    await until(() => lost.every((s) => (seen.get(s) ?? 0) >= 2), 'retransmitted packets')
    expect((await h.sfu.stats()).retransmitted).toBeGreaterThanOrEqual(lost.length)
  })

  it('tears down a publish or receive connection that fails', async () => {
    h = await spawnMedia()
    await h.publisher('t', 'teacher', 'r', 'one-on-one', { fps: 5 })
    await h.receiver('lamp', 'r')
    expect(await h.sfu.stats()).toMatchObject({ publishers: 1, subscribers: 1 })
    // simulate what werift reports when ICE consent expires on the SFU's side of each connection
    const internals = h.sfu as unknown as {
      publishers: Map<string, { pc: { connectionStateChange: { execute(s: string): void } } }>
      shards: Array<{
        hub: { subs: Map<string, { pc: { connectionStateChange: { execute(s: string): void } } }> }
      }>
    }
    for (const p of internals.publishers.values()) p.pc.connectionStateChange.execute('failed')
    for (const s of internals.shards[0].hub.subs.values()) s.pc.connectionStateChange.execute('failed')
    await until(async () => {
      const st = await h.sfu.stats()
      return st.publishers === 0 && st.subscribers === 0
    }, 'failed connections torn down')
  })

  it('replaces a receive connection that fails after it was up', async () => {
    h = await spawnMedia()
    await h.publisher('t', 'teacher', 'r', 'one-on-one', { fps: 10 })
    const { sub } = await h.receiver('lamp', 'r')
    await until(() => sub.packets() > 10, 'media')
    const first = sub.pc
    first.connectionStateChange.execute('failed')
    await until(
      () => sub.pc !== first && sub.tracks.some((t) => t.kind === 'video' && t.packets > 5),
      'media again',
    )
    expect((await h.sfu.stats()).subscribers).toBe(1)
  })

  it('republishes the same tracks when a publish connection fails after it was up', async () => {
    h = await spawnMedia()
    const teacher = await h.publisher('t', 'teacher', 'r', 'one-on-one', { fps: 10 })
    const { sub } = await h.receiver('lamp', 'r')
    await until(() => sub.packets() > 10, 'media')
    const before = sub.tracks.find((t) => t.kind === 'video')
    const first = teacher.pub.pc
    first.connectionStateChange.execute('failed')
    await until(
      () => teacher.pub.pc !== first && teacher.pub.pc.connectionState === 'connected',
      'republished',
    )
    // the lamp's receive connection is renegotiated with the new tracks (on the old ones' m-lines)
    await until(
      () => sub.tracks.some((t) => t.kind === 'video' && t !== before && t.packets > 5),
      'new video',
    )
    expect((await h.sfu.stats()).publishers).toBe(1)
  })

  it('picks the active speaker from audio levels', async () => {
    h = await spawnMedia()
    const t = await h.publisher('t', 'teacher', 'g', 'group', { audioLevel: 127, fps: 5 })
    await h.publisher('s1', 'student', 'g', 'group', { audioLevel: 20, fps: 5 })
    await t.sig.waitFor((s) => s.speaker === 's1')
    t.source.audioLevel(10)
    await t.sig.waitFor((s) => s.speaker === 't')
  })

  it('leaves no listener behind after a publish, and gives up on an aborted one', async () => {
    h = await spawnMedia()
    const t = await h.join('t', 'teacher', { room: 'r', kind: 'one-on-one' })
    const socket = (t as unknown as { socket: WebSocket }).socket
    const listening = socket.listenerCount('message')
    // one long-lived signal across publishes (a lamp's session): nothing accumulates on it
    const session = new AbortController()
    const pub = await publish(t, { loopback: true }, { signal: session.signal })
    expect(socket.listenerCount('message')).toBe(listening)
    expect(getEventListeners(session.signal, 'abort')).toHaveLength(0)
    await pub.close()
    const page = new AbortController()
    page.abort(new Error('page closed'))
    await expect(publish(t, { loopback: true }, { signal: page.signal })).rejects.toThrow('page closed')
    expect(socket.listenerCount('message')).toBe(listening)
  })

  it('lets class students publish only from the stage', async () => {
    h = await spawnMedia()
    const t = await h.publisher('t', 'teacher', 'c', 'class', { fps: 5 })
    const s = await h.join('s', 'student', { room: 'c' })
    const refused = new Promise<string>((r) => s.once('error', (e) => r(e.code)))
    s.send({ type: 'publish', sdp: 'v=0' })
    expect(await refused).toBe('ERR_FORBIDDEN')
    s.on('error', () => {})
    await expect(publish(s, { loopback: true })).rejects.toMatchObject({ code: 'ERR_FORBIDDEN' })
    t.sig.action('stage.invite', { user: 's' })
    await s.waitFor((st) => st.stage.includes('s'))
    const pub = await publish(s, { loopback: true })
    const viewer = await h.receiver('v', 'c')
    await until(() => viewer.sub.tracks.length === 4, 'teacher and stage tracks at a viewer')
    t.sig.action('stage.remove', { user: 's' })
    await until(async () => (await h.sfu.stats()).publishers === 1, 'stage publisher torn down')
    await pub.close()
  })
})
