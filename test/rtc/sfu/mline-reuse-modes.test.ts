/**
 * A reused m-line in the forward modes `mline-reuse.test.ts` (default `fast`) does not cover:
 * the next publisher's packets go on the same mid and SSRC, numbered on from the previous
 * publisher's, and a NACK for one of them after the reuse is answered with that packet.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { GenericNack, RtcpTransportLayerFeedback } from 'werift'
import type { ForwardMode } from '../../../rtc/sfu/forwarder.ts'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

let h: MediaHarness | undefined
afterEach(async () => {
  await h?.teardown()
  h = undefined
})

/** A packet on the reused m-line, as received; `bytes` tells whose it is. */
interface Received {
  seq: number
  timestamp: number
  bytes: number
}

const FIRST = 600
const SECOND = 610
/** Most sequence numbers one step may skip (packets lost on a loaded loopback). */
const MAX_GAP = 32

describe.each<ForwardMode>(['lean', 'werift'])('a reused m-line in %s mode', (mode) => {
  it("carries the next publisher's video numbered on from the previous one's, and answers its NACKs", async () => {
    h = await spawnMedia({ mode })
    const harness = h
    const watcher = await harness.receiver('w', 'g')
    const teacher = await harness.publisher('t', 'teacher', 'g', 'group', { fps: 15, payloadBytes: 500 })
    const video = (user: string, more = 10) =>
      watcher.sub.tracks.find((t) => t.kind === 'video' && t.user === user && t.packets > more)
    await until(() => video('t') !== undefined, 'teacher video')

    const s0 = await harness.publisher('s0', 'student', 'g', 'group', { fps: 15, payloadBytes: FIRST })
    await until(() => video('s0') !== undefined, "s0's video")
    const line = video('s0')!
    // every packet of the m-line s0's video came on, in arrival order, whichever publisher's
    const track = watcher.sub.pc.getTransceivers().find((t) => t.mid === line.mid)?.receiver.tracks[0]
    expect(track, "the receiver track of s0's m-line").toBeDefined()
    const packets: Received[] = []
    track!.onReceiveRtp.subscribe((rtp) => {
      packets.push({
        seq: rtp.header.sequenceNumber,
        timestamp: rtp.header.timestamp,
        bytes: rtp.payload.length,
      })
    })
    const count = (bytes: number) => packets.filter((p) => p.bytes === bytes).length
    await until(() => count(FIRST) > 5, "s0's packets on its m-line")

    // s0 leaves: its tracks end and free its m-lines
    s0.source.stop()
    s0.sig.close()
    await until(async () => (await harness.sfu.stats()).publishers === 1, 's0 unpublished')

    await harness.publisher('s1', 'student', 'g', 'group', { fps: 15, payloadBytes: SECOND })
    await until(() => video('s1') !== undefined, "s1's video")
    const next = video('s1')!
    expect(next.mid).toBe(line.mid)
    expect(next.ssrc).toBe(line.ssrc)
    await until(() => count(SECOND) > 10, "s1's packets on the reused m-line")

    const seen = packets.slice()
    expect(seen.some((p) => p.bytes !== FIRST && p.bytes !== SECOND)).toBe(false)
    const switchAt = seen.findIndex((p) => p.bytes === SECOND)
    expect(seen.slice(switchAt).every((p) => p.bytes === SECOND)).toBe(true)
    // a browser keeps the SSRC and drops what looks old: each packet follows the one before
    const steps = seen.slice(1).map((p, i) => ({
      at: i + 1,
      seq: (p.seq - seen[i].seq) & 0xffff,
      timestamp: (p.timestamp - seen[i].timestamp) | 0,
    }))
    expect(steps.filter((s) => s.seq < 1 || s.seq > MAX_GAP)).toEqual([])
    expect(steps.filter((s) => s.timestamp < 0)).toEqual([])
    expect(steps[switchAt - 1].timestamp, 'timestamp step at the switch').toBeGreaterThan(0)

    // a NACK names s1's packets as received here: they come again, and they are s1's
    const lost = seen
      .slice(switchAt)
      .slice(-5, -2)
      .map((p) => p.seq)
    const tr = watcher.sub.pc.getTransceivers().find((t) => t.mid === line.mid)!
    await tr.dtlsTransport.sendRtcp([
      new RtcpTransportLayerFeedback({
        feedback: new GenericNack({ senderSsrc: 1234, mediaSourceSsrc: next.ssrc, lost }),
      }),
    ])
    const again = (seq: number) => packets.filter((p) => p.seq === seq)
    await until(() => lost.every((q) => again(q).length >= 2), 'retransmitted packets')
    expect(lost.flatMap((q) => again(q).map((p) => p.bytes))).toEqual(lost.flatMap(() => [SECOND, SECOND]))
    teacher.source.stop()
  })
})
