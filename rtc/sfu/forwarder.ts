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
 * reuses a subscriber's m-line) gets fixed offsets instead, so its sequence numbers and timestamps
 * go on from where the earlier track left them: receivers keep the SSRC and would take a jump
 * back for old packets and drop them. NACKed sequence numbers are mapped back through the offset.
 *
 * `werift` mode calls `sender.sendRtp(packet)` (0.25.2 clones internally; no extra clone here) and
 * is kept as the in-run baseline.
 */
import { ntpTime, type RTCDtlsTransport, type RTCRtpSender, RtpPacket } from 'werift'
import { NACK_HISTORY } from '../constants.ts'
import { type FastPath, fastPathFor, payloadBounds, sendFast } from './fast-srtp.ts'

/** How packets are handed to werift: see the module comment and `fast-srtp.ts`. */
export type ForwardMode = 'fast' | 'lean' | 'werift'

/** One subscriber's sender for this track. */
export interface Output {
  sender: RTCRtpSender
  /** Set once DTLS is up and a codec is negotiated. */
  ready: boolean
  ssrc: number
  payloadType: number
  dtls: RTCDtlsTransport | undefined
  /** Set in `fast` mode when the connection negotiated AES-GCM. */
  fast: FastPath | undefined
  /** Added to each forwarded sequence number (mod 2^16) and timestamp (mod 2^32). */
  seqDelta: number
  tsDelta: number
  /** Where the sender's previous track stopped: the offsets are set from it at the first packet. */
  continueFrom: SentPosition | undefined
  /** The last packet sent, as sent (undefined before the first). */
  last: SentPosition | undefined
}

/** A packet's place in a sender's stream, and when it went out. */
export interface SentPosition {
  seq: number
  timestamp: number
  /** `performance.now()` when it was sent. */
  at: number
}

/**
 * Creates an output for `sender` (not ready until {@link refreshOutput}). `continueFrom` is where
 * the sender's previous track stopped, if it carried one.
 */
export function createOutput(sender: RTCRtpSender, continueFrom?: SentPosition): Output {
  return {
    sender,
    ready: false,
    ssrc: sender.ssrc,
    payloadType: 0,
    dtls: undefined,
    fast: undefined,
    seqDelta: 0,
    tsDelta: 0,
    continueFrom,
    last: undefined,
  }
}

/**
 * Sets `out`'s offsets so that the packet (`seq`, `timestamp`) follows the last one of the previous
 * track: the next sequence number, and the timestamp advanced by the time since at the codec's rate.
 */
function continueOutput(out: Output, from: SentPosition, seq: number, timestamp: number, now: number): void {
  const clockRate = out.sender.codec?.clockRate ?? 90_000
  const elapsed = Math.max(1, Math.round(((now - from.at) * clockRate) / 1000))
  out.seqDelta = (from.seq + 1 - seq) & 0xffff
  out.tsDelta = (from.timestamp + elapsed - timestamp) >>> 0
  out.continueFrom = undefined
}

/** Sends `buf`'s payload to `out` on its fast path, as this output numbers its packets. */
function sendFastTo(out: Output, fast: FastPath, buf: Buffer, bounds: { start: number; end: number }): void {
  sendFast(fast, buf, bounds.start, bounds.end, out.ssrc, out.payloadType, out.seqDelta, out.tsDelta)
}

/** Marks an output ready when its sender can send; returns true if it just became ready. */
export function refreshOutput(out: Output): boolean {
  if (out.ready) return false
  const s = out.sender
  if (s.codec === undefined || s.dtlsTransport?.state !== 'connected') return false
  out.payloadType = s.codec.payloadType
  out.ssrc = s.ssrc
  out.dtls = s.dtlsTransport
  out.fast = fastPathFor(s.dtlsTransport)
  // werift starts its sender-report loop from sendRtp, which the fast path never calls
  if (out.fast !== undefined) (s as unknown as SenderReportState).runRtcp().catch(noop)
  out.ready = true
  return true
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

/** The sender-report fields of werift's `RTCRtpSender` (private in its typings). */
interface SenderReportState {
  ntpTimestamp: bigint
  rtpTimestamp: number
  packetCount: number
  octetCount: number
  runRtcp(): Promise<void>
}

/**
 * The fast path bypasses `sendRtp`, so werift would send no RTCP sender reports (receivers need
 * them to sync audio with video). Keep the four fields its report loop reads up to date.
 */
function countForReport(out: Output, ntp: bigint, rtpTimestamp: number, payloadBytes: number): void {
  const sr = out.sender as unknown as SenderReportState
  sr.ntpTimestamp = ntp
  sr.rtpTimestamp = rtpTimestamp
  sr.packetCount = (sr.packetCount + 1) >>> 0
  sr.octetCount = (sr.octetCount + payloadBytes) >>> 0
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
      if (out.continueFrom !== undefined) continueOutput(out, out.continueFrom, seq, rtpTimestamp, now)
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
        // werift's sender keeps its own sequence and timestamp continuity
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
