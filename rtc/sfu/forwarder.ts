/**
 * Fan-out of one published track to its subscribers' senders.
 *
 * `fast` mode (default) skips werift's send path entirely: see `fast-srtp.ts`.
 *
 * `lean` mode parses each incoming packet once and, per subscriber, only rewrites SSRC
 * and payload type on that one header before handing it to the subscriber's SRTP session, which
 * serializes and encrypts synchronously — so the shared header may be changed again for the next
 * subscriber. That skips, per send, werift's `RTCRtpSender.dispatchRtp` work (a packet clone, an
 * NTP clock read, header-extension rebuilding, stats and send-side BWE), which the baseline
 * profile put at about a third of the SFU's time. Sequence numbers and timestamps pass through
 * unchanged (each subscriber sender carries one publisher track at a time), so one shared history
 * per track serves NACKs from every subscriber. A sender that carried an earlier track (the SFU
 * reuses a subscriber's m-line) numbers its packets on from that track's (`output.ts`): a NACK
 * names its numbers, mapped back through its offset before the history is read.
 *
 * `werift` mode calls `sender.sendRtp(packet)` (0.25.2 clones internally; no extra clone here) and
 * is kept as the in-run baseline. werift's sender rewrites numbers itself, so on a reused m-line it
 * is told to continue (`replaceRTP`) at the next track's first packet, and answers NACKs itself.
 */
import { ntpTime, RtpPacket } from 'werift'
import { NACK_HISTORY } from '../constants.ts'
import { type FastPath, payloadBounds, sendFast } from './fast-srtp.ts'
import { continueOutput, countForReport, type Output, refreshOutput } from './output.ts'

/** How packets are handed to werift: see the module comment and `fast-srtp.ts`. */
export type ForwardMode = 'fast' | 'lean' | 'werift'

/** Sends `buf`'s payload to `out` on its fast path, as this output numbers its packets. */
function sendFastTo(out: Output, fast: FastPath, buf: Buffer, bounds: { start: number; end: number }): void {
  sendFast(fast, buf, bounds.start, bounds.end, out.ssrc, out.payloadType, out.seqDelta, out.tsDelta)
}

/** Strips what must not be forwarded as-is: extension ids are per connection, padding is dropped. */
function prepare(buf: Buffer): RtpPacket {
  const pkt = RtpPacket.deSerialize(buf)
  const h = pkt.header
  h.extension = false
  h.extensions = []
  h.padding = false
  h.paddingSize = 0
  return pkt
}

/** Forwards one track. */
export class TrackForwarder {
  readonly outputs: Output[] = []
  /** Packets handed to werift so far. */
  sent = 0
  /** Packets sent again in answer to NACKs. */
  retransmitted = 0
  private readonly mode: ForwardMode
  private readonly history: Array<Buffer | undefined> = new Array(NACK_HISTORY)
  private readonly historySeq = new Int32Array(NACK_HISTORY).fill(-1)

  private readonly onReady: (out: Output) => void

  /** `onReady` runs when an output starts receiving (the moment to ask for a keyframe). */
  constructor(init: { mode?: ForwardMode; onReady?: (out: Output) => void } = {}) {
    this.mode = init.mode ?? 'fast'
    this.onReady = init.onReady ?? noop
  }

  /** Adds a subscriber's output; it receives packets once its transport is up. */
  add(out: Output): void {
    if (!this.outputs.includes(out)) this.outputs.push(out)
    if (refreshOutput(out)) this.onReady(out)
  }

  /** Sends one serialized RTP packet to every ready output. */
  forward(buf: Buffer): void {
    const seq = buf.readUInt16BE(2)
    const slot = seq & (NACK_HISTORY - 1)
    this.history[slot] = buf
    this.historySeq[slot] = seq
    const outs = this.outputs
    if (outs.length === 0) return
    const bounds = payloadBounds(buf)
    if (bounds === undefined) return
    let pkt: RtpPacket | undefined
    const ntp = this.mode === 'fast' ? ntpTime() : 0n
    const rtpTimestamp = buf.readUInt32BE(4)
    const now = performance.now()
    for (let i = 0; i < outs.length; i++) {
      const out = outs[i]
      // DTLS may come up after the connection-state event: check lazily, it is two field reads
      if (!out.ready) {
        if (!refreshOutput(out)) continue
        this.onReady(out)
      }
      this.sent++
      if (out.continueFrom !== undefined) {
        const from = out.continueFrom
        continueOutput(out, from, seq, rtpTimestamp, now)
        // werift's sender numbers its own packets: without this it sends the next track's numbers
        // unchanged, a jump on the same SSRC; have it go on as the offsets just set do
        if (this.mode === 'werift') {
          const step = (rtpTimestamp + out.tsDelta - from.timestamp) >>> 0
          out.sender.replaceRTP({ sequenceNumber: seq, timestamp: rtpTimestamp }, false, step)
        }
      }
      const outSeq = (seq + out.seqDelta) & 0xffff
      const outTimestamp = (rtpTimestamp + out.tsDelta) >>> 0
      if (out.last === undefined) out.last = { seq: outSeq, timestamp: outTimestamp, at: now }
      else {
        out.last.seq = outSeq
        out.last.timestamp = outTimestamp
        out.last.at = now
      }
      if (this.mode === 'fast' && out.fast !== undefined) {
        sendFastTo(out, out.fast, buf, bounds)
        countForReport(out, ntp, outTimestamp, bounds.end - bounds.start)
        continue
      }
      pkt ??= this.mode === 'werift' ? RtpPacket.deSerialize(buf) : prepare(buf)
      if (this.mode === 'werift') {
        // werift's sender applies its own offsets, which `replaceRTP` above keeps equal to ours
        out.sender.sendRtp(pkt).catch(noop)
      } else {
        pkt.header.ssrc = out.ssrc
        pkt.header.payloadType = out.payloadType
        pkt.header.sequenceNumber = outSeq
        pkt.header.timestamp = outTimestamp
        out.dtls!.sendRtp(pkt.payload, pkt.header).catch(noop)
      }
    }
  }

  /** Answers a subscriber's NACK from the shared history (lean mode; werift answers its own). */
  retransmit(out: Output, lost: readonly number[]): void {
    if (this.mode === 'werift' || !out.ready) return
    for (const outSeq of lost) {
      // the subscriber names sequence numbers as it received them
      const seq = (outSeq - out.seqDelta) & 0xffff
      const slot = seq & (NACK_HISTORY - 1)
      const buf = this.history[slot]
      if (buf === undefined || this.historySeq[slot] !== seq) continue
      this.retransmitted++
      const bounds = out.fast !== undefined && this.mode === 'fast' ? payloadBounds(buf) : undefined
      if (bounds !== undefined) {
        sendFastTo(out, out.fast!, buf, bounds)
        continue
      }
      const pkt = prepare(buf)
      pkt.header.ssrc = out.ssrc
      pkt.header.payloadType = out.payloadType
      pkt.header.sequenceNumber = outSeq
      pkt.header.timestamp = (pkt.header.timestamp + out.tsDelta) >>> 0
      out.dtls!.sendRtp(pkt.payload, pkt.header).catch(noop)
    }
  }

  /** Removes an output (subscriber left). */
  remove(out: Output): void {
    const i = this.outputs.indexOf(out)
    if (i >= 0) this.outputs.splice(i, 1)
  }
}

function noop(): void {}
