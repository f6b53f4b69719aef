import { afterEach, describe, expect, it } from 'vitest'
import { GenericNack, RtcpTransportLayerFeedback } from 'werift'
import type { TrackCounter } from '../../../rtc/client/media.ts'
import { type MediaHarness, spawnMedia, until } from './media-harness.ts'

let h: MediaHarness
afterEach(async () => {
  await h?.teardown()
})

const mLines = (sdp: string | undefined): number => sdp?.match(/^m=/gm)?.length ?? 0

/** Filler video payload size of each publisher: tells at the receiver whose packets arrived. */
const payloadBytes = (i: number): number => 600 + 10 * i

describe('m-lines of a subscriber connection', () => {
  it('are reused by the next publisher: a stage changing 5 times leaves as many m-lines as tracks live at once', async () => {
    h = await spawnMedia()
    const cycles = 5
    const watcher = await h.receiver('watcher', 'g')
    const teacher = await h.publisher('t', 'teacher', 'g', 'group', { fps: 15, payloadBytes: 500 })
    const sizeOf = new Map<string, number>([['t', 500]])
    const videoBySize = new Map<number, number>()
    const wrong: string[] = []
    /** Times each video sequence number of the students arrived (their m-line is the reused one). */
    const studentSeqs = new Map<number, number>()
    watcher.sub.onPacket((kind, payload, seq, user) => {
      if (kind !== 'video') return
      if (user !== 't') studentSeqs.set(seq, (studentSeqs.get(seq) ?? 0) + 1)
      videoBySize.set(payload.length, (videoBySize.get(payload.length) ?? 0) + 1)
      // a packet counted for one user must be that user's
      if (user !== undefined && sizeOf.get(user) !== payload.length) wrong.push(`${user}: ${payload.length}`)
    })
    await until(() => (videoBySize.get(500) ?? 0) > 10, 'teacher video')
    /** The previous student's video counter: its m-line is the one the next student takes. */
    let previous: TrackCounter | undefined
    for (let i = 0; i < cycles; i++) {
      const user = `s${i}`
      sizeOf.set(user, payloadBytes(i))
      const student = await h.publisher(user, 'student', 'g', 'group', {
        fps: 15,
        payloadBytes: payloadBytes(i),
      })
      await until(() => (videoBySize.get(payloadBytes(i)) ?? 0) > 10, `${user}'s video`)
      // the teacher's pair and this student's pair live at once: 4 m-lines, however many came before
      expect(mLines(watcher.sub.pc.remoteDescription?.sdp), `m-lines with ${user} on stage`).toBe(4)
      // the m-line carrying it names its publisher, and the packets counted for it are its own
      await until(
        () => watcher.sub.tracks.some((t) => t.kind === 'video' && t.user === user && t.packets > 10),
        `${user}'s video track`,
      )
      await until(
        () => watcher.sub.tracks.some((t) => t.kind === 'audio' && t.user === user && t.packets > 5),
        `${user}'s audio track`,
      )
      const video = watcher.sub.tracks.find((t) => t.kind === 'video' && t.user === user)!
      if (previous !== undefined) {
        // same m-line, same SSRC, and the sequence numbers go on where the previous student's
        // stopped (a jump back would be taken for old packets and dropped by a browser)
        expect(video.mid).toBe(previous.mid)
        expect(video.ssrc).toBe(previous.ssrc)
        expect((video.firstSeq - previous.maxSeq) & 0xffff).toBe(1)
      }
      previous = video
      if (i === cycles - 1) {
        // a NACK names sequence numbers as received on the reused m-line: the SFU maps them back
        const recent = [...studentSeqs.keys()].slice(-5, -2)
        const tr = watcher.sub.pc.getTransceivers().find((t) => t.mid === video.mid)!
        await tr.dtlsTransport.sendRtcp([
          new RtcpTransportLayerFeedback({
            feedback: new GenericNack({ senderSsrc: 1234, mediaSourceSsrc: video.ssrc, lost: recent }),
          }),
        ])
        await until(() => recent.every((q) => (studentSeqs.get(q) ?? 0) >= 2), 'retransmitted packets')
      }
      // the student leaves the stage: its tracks end
      student.source.stop()
      student.sig.close()
      await until(async () => (await h.sfu.stats()).publishers === 1, `${user} unpublished`)
    }
    expect(wrong).toEqual([])
    // one counter per m-line: the ended students' counters were replaced, not kept beside
    expect(watcher.sub.tracks).toHaveLength(4)
    expect(
      watcher.sub.tracks
        .filter((t) => t.user === 't')
        .map((t) => t.kind)
        .sort(),
    ).toEqual(['audio', 'video'])
    // and the teacher's media went on all along
    const before = videoBySize.get(500) ?? 0
    await until(() => (videoBySize.get(500) ?? 0) > before + 10, 'teacher video at the end')
    teacher.source.stop()
  })
})
