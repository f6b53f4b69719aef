/**
 * Synthetic media for werift peers (tests, benchmark, a lamp without a camera): VP8 frames read
 * from an IVF file and packetized per RFC 7741, or filler video of a given bitrate, plus Opus
 * silence carrying the ssrc-audio-level extension.
 */
import { readFileSync } from 'node:fs'
import { type MediaStreamTrack, RtpHeader, RtpPacket } from 'werift'
import { AUDIO_LEVEL_EXT_ID } from '../sfu/peer-config.ts'

/** One encoded frame. */
export interface Frame {
  data: Buffer
  keyframe: boolean
}

/** Reads the frames of an IVF (VP8) file. */
export function readIvf(path: string): Frame[] {
  const buf = readFileSync(path)
  if (buf.toString('ascii', 0, 4) !== 'DKIF') throw new Error('not an IVF file')
  const frames: Frame[] = []
  let off = buf.readUInt16LE(6)
  while (off + 12 <= buf.length) {
    const size = buf.readUInt32LE(off)
    const data = buf.subarray(off + 12, off + 12 + size)
    // VP8 frame tag: bit 0 of the first byte is 0 for a keyframe (RFC 6386 9.1)
    frames.push({ data, keyframe: (data[0] & 1) === 0 })
    off += 12 + size
  }
  return frames
}

/** An Opus packet of 20 ms silence (TOC 0xf8: CELT FB 20 ms, one frame). */
export const OPUS_SILENCE = Buffer.from([0xf8, 0xff, 0xfe])

/** Options of {@link RtpSource}. */
export interface RtpSourceInit {
  video?: MediaStreamTrack
  audio?: MediaStreamTrack
  /** VP8 frames to loop; without them, filler payloads are sent. */
  frames?: Frame[]
  /** @default 15 with frames, 30 without */
  fps?: number
  /** Filler: packets per frame. @default 3 */
  packetsPerFrame?: number
  /** Filler: payload bytes per packet. @default 1100 */
  payloadBytes?: number
  /** Negotiated id of the audio-level extension (see `Publication.audioLevelExtId`). @default {@link AUDIO_LEVEL_EXT_ID} */
  audioLevelExtId?: number
  /** Audio level to announce (0 loud .. 127 silent). @default 30 */
  audioLevel?: number
  /** Write the send time (ms, float64) at payload offset 1 of every packet, for delay measurement. */
  stamp?: boolean
}

const MAX_PAYLOAD = 1100

/** Writes RTP into werift tracks at a steady pace. */
export class RtpSource {
  private readonly init: RtpSourceInit
  private videoSeq = Math.floor(Math.random() * 60000)
  private audioSeq = Math.floor(Math.random() * 60000)
  private videoTs = 0
  private audioTs = 0
  private frame = 0
  private timers: Array<ReturnType<typeof setInterval>> = []
  /** Keyframes sent (also counts restarts asked for by {@link keyframe}). */
  keyframes = 0

  constructor(init: RtpSourceInit) {
    this.init = init
  }

  /** Starts sending. */
  start(): void {
    const fps = this.init.fps ?? (this.init.frames ? 15 : 30)
    if (this.init.video) this.timers.push(setInterval(() => this.sendFrame(fps), 1000 / fps))
    if (this.init.audio) this.timers.push(setInterval(() => this.sendAudio(), 20))
  }

  /** Restarts the sample at its first keyframe (answer to a PLI). */
  keyframe(): void {
    this.frame = 0
  }

  audioLevel(level: number): void {
    this.init.audioLevel = level
  }

  private stamp(payload: Buffer): void {
    if (this.init.stamp === true && payload.length >= 9)
      payload.writeDoubleLE(performance.timeOrigin + performance.now(), 1)
  }

  private sendFrame(fps: number): void {
    const track = this.init.video!
    const frames = this.init.frames
    let chunks: Buffer[]
    if (frames !== undefined && frames.length > 0) {
      const f = frames[this.frame % frames.length]
      if (f.keyframe) this.keyframes++
      this.frame = (this.frame + 1) % frames.length
      chunks = []
      for (let o = 0; o < f.data.length; o += MAX_PAYLOAD) {
        // VP8 payload descriptor (RFC 7741 4.2): S bit on the first packet of the frame, PID 0
        chunks.push(
          Buffer.concat([Buffer.from([o === 0 ? 0x10 : 0x00]), f.data.subarray(o, o + MAX_PAYLOAD)]),
        )
      }
    } else {
      const n = this.init.packetsPerFrame ?? 3
      const size = this.init.payloadBytes ?? MAX_PAYLOAD
      chunks = Array.from({ length: n }, (_, i) => {
        const b = Buffer.alloc(size, 0xab)
        b[0] = i === 0 ? 0x10 : 0x00
        return b
      })
    }
    this.videoTs = (this.videoTs + Math.round(90000 / fps)) >>> 0
    for (let i = 0; i < chunks.length; i++) {
      this.stamp(chunks[i])
      this.videoSeq = (this.videoSeq + 1) & 0xffff
      const header = new RtpHeader({
        payloadType: 96,
        sequenceNumber: this.videoSeq,
        timestamp: this.videoTs,
        marker: i === chunks.length - 1,
        ssrc: 1,
      })
      track.writeRtp(new RtpPacket(header, chunks[i]))
    }
  }

  private sendAudio(): void {
    this.audioSeq = (this.audioSeq + 1) & 0xffff
    this.audioTs = (this.audioTs + 960) >>> 0
    const level = this.init.audioLevel ?? 30
    const payload = this.init.stamp === true ? Buffer.concat([OPUS_SILENCE, Buffer.alloc(97)]) : OPUS_SILENCE
    this.stamp(payload)
    const header = new RtpHeader({
      payloadType: 111,
      sequenceNumber: this.audioSeq,
      timestamp: this.audioTs,
      ssrc: 2,
      extension: true,
      extensions: [
        { id: this.init.audioLevelExtId ?? AUDIO_LEVEL_EXT_ID, payload: Buffer.from([0x80 | level]) },
      ],
    })
    this.init.audio!.writeRtp(new RtpPacket(header, payload))
  }

  /** Stops sending. */
  stop(): void {
    for (const t of this.timers) clearInterval(t)
    this.timers = []
  }
}
