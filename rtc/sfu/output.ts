/**
 * One subscriber sender's side of a forwarded track: when it can send, how it numbers what it
 * sends, and the sender-report fields the fast path keeps for werift.
 *
 * Sequence numbers and timestamps pass through unchanged while a sender carries its first track.
 * A sender that carried an earlier track (the SFU reuses a subscriber's m-line, `subscriber-lines.ts`)
 * gets fixed offsets instead, so its sequence numbers and timestamps go on from where the earlier
 * track left them: receivers keep the SSRC and would take a jump back for old packets and drop
 * them. The forwarder maps NACKed sequence numbers back through the same offset.
 */
import type { RTCDtlsTransport, RTCRtpSender } from 'werift'
import { type FastPath, fastPathFor } from './fast-srtp.ts'

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
export function continueOutput(
  out: Output,
  from: SentPosition,
  seq: number,
  timestamp: number,
  now: number,
): void {
  const clockRate = out.sender.codec?.clockRate ?? 90_000
  const elapsed = Math.max(1, Math.round(((now - from.at) * clockRate) / 1000))
  out.seqDelta = (from.seq + 1 - seq) & 0xffff
  out.tsDelta = (from.timestamp + elapsed - timestamp) >>> 0
  out.continueFrom = undefined
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
export function countForReport(out: Output, ntp: bigint, rtpTimestamp: number, payloadBytes: number): void {
  const sr = out.sender as unknown as SenderReportState
  sr.ntpTimestamp = ntp
  sr.rtpTimestamp = rtpTimestamp
  sr.packetCount = (sr.packetCount + 1) >>> 0
  sr.octetCount = (sr.octetCount + payloadBytes) >>> 0
}

function noop(): void {}
