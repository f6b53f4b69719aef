/**
 * The m-lines of one subscriber connection, the track each carries, and which offer showed what.
 *
 * A transceiver (m-line) whose track ended is offered `inactive` and, once that offer is out,
 * carries the next track of its kind (`sendonly` again, its msid naming the new owner): a
 * subscriber's SDP holds as many m-lines as tracks were ever live at once, not one per track ever
 * forwarded. The subscriber takes offers in order, so it sees the line idle before it sees the new
 * track: every track on a reused line is a fresh "track" event at the client (RFC 8829 §5.10: a
 * direction that starts to include receiving fires one), never a silent swap under an old one.
 * Its media flows only once the subscriber answered the offer that made it `sendonly` again.
 *
 * Tracks get their lines when an offer is made ({@link SubscriberLines.startOffer}), never while
 * one is out, so a burst of stage changes within one offer/answer round is coalesced: a track that
 * came and went meanwhile never gets a line, and one whose line is only now going `inactive` waits
 * for that offer and takes the line in the next, as when the stage changes slowly. Before, each
 * track that came within the round took a new m-line.
 */
import type { RTCPeerConnection, RTCRtpTransceiver } from 'werift'
import type { TrackForwarder } from './forwarder.ts'
import { createOutput, type Output } from './output.ts'

/** A published track as a subscriber connection carries it. */
export interface ForwardedTrack {
  id: string
  /** The publisher's user id, named in the m-line's msid. */
  owner: string
  kind: 'audio' | 'video'
  forwarder: TrackForwarder
}

/** Live things {@link SubscriberLines} uses. */
export interface SubscriberLinesComponents {
  /** The subscriber connection whose m-lines these are. */
  pc: RTCPeerConnection
  /** The subscriber asked for a keyframe of `trackId` (a PLI on its line). */
  keyframe(trackId: string): void
}

/** One m-line of a subscriber connection and the track it carries now, if any. */
interface Line {
  kind: 'audio' | 'video'
  transceiver: RTCRtpTransceiver
  /** Undefined while idle (offered `inactive`). */
  track: ForwardedTrack | undefined
  output: Output
  /** Offers made when the line took its track: the track flows once a later offer is answered. */
  since: number
  /** Offers made when the line went idle: it is reused once a later offer was built (it says `inactive`). */
  idleSince: number
}

/** The m-lines of one subscriber connection. */
export class SubscriberLines {
  private readonly components: SubscriberLinesComponents
  /** Every m-line, busy or idle; grows only when no idle line of a track's kind is or is about to be free. */
  private readonly lines: Line[] = []
  /** Busy lines by track id. */
  private readonly busy = new Map<string, Line>()
  /** Tracks to carry that have no line yet, in arrival order; at most the room's tracks. */
  private readonly waiting = new Map<string, ForwardedTrack>()
  /** Offers made so far. */
  private offers = 0
  /** `offers` at the time of the offer whose answer was applied last (0: none yet). */
  private answered = 0
  /** `offers` at the time of the offer whose SDP was built last (0: none yet). */
  private built = 0

  constructor(components: SubscriberLinesComponents) {
    this.components = components
  }

  /** `track` is to reach this subscriber: it gets a line when the next offer is made. */
  add(track: ForwardedTrack): void {
    if (!this.busy.has(track.id)) this.waiting.set(track.id, track)
  }

  /**
   * `trackId` ended. Its line goes idle, `inactive` from the next offer on, free for the next
   * track of its kind once that offer is built: returns true, the subscriber needs that offer. A
   * track still waiting for a line only stops waiting (false).
   */
  remove(trackId: string): boolean {
    if (this.waiting.delete(trackId)) return false
    const line = this.busy.get(trackId)
    if (line === undefined) return false
    this.busy.delete(trackId)
    line.track = undefined
    line.idleSince = this.offers
    line.transceiver.setDirection('inactive')
    line.transceiver.sender.streamIds = []
    return true
  }

  /** Some track waits for a line the offer being made turns `inactive`: the next offer carries it. */
  get waits(): boolean {
    return this.waiting.size > 0
  }

  /** Begins an offer: puts waiting tracks on lines. Returns the offer's number, for {@link offerBuilt}. */
  startOffer(): number {
    this.place()
    // an empty offer cannot be negotiated; an idle line keeps the transport ready for later
    // tracks, and carries the first video one
    if (this.lines.length === 0) this.addLine('video', 'inactive')
    return ++this.offers
  }

  /** The SDP of offer `n` was built: lines idle before it said `inactive` there. */
  offerBuilt(n: number): void {
    this.built = n
  }

  /** The subscriber's answer to the latest offer was applied: its `sendonly` lines start forwarding. */
  answerApplied(): void {
    this.answered = this.offers
    this.refresh()
  }

  /**
   * Starts forwarding on every line the subscriber has answered as `sendonly`. A reused line's
   * sender is ready at once: sending before the answer would feed the client's old track.
   */
  refresh(): void {
    for (const line of this.busy.values()) {
      if (line.since < this.answered) line.track!.forwarder.add(line.output)
    }
  }

  /** Detaches every line from its track (the connection is closing). */
  clear(): void {
    for (const line of this.busy.values()) line.track!.forwarder.remove(line.output)
    this.busy.clear()
    this.waiting.clear()
  }

  /**
   * Puts each waiting track on an idle line of its kind already offered `inactive` (the subscriber
   * sees the line idle before it sees the new track). Finding none, it waits while a line of its
   * kind goes `inactive` in the offer being made, and otherwise takes a new line.
   */
  private place(): void {
    // idle lines no offer has shown `inactive` yet, by kind: this offer will
    const freeing = { audio: 0, video: 0 }
    for (const l of this.lines) if (l.track === undefined && l.idleSince >= this.built) freeing[l.kind]++
    for (const track of this.waiting.values()) {
      const line = this.lines.find(
        (l) => l.track === undefined && l.kind === track.kind && l.idleSince < this.built,
      )
      if (line === undefined && freeing[track.kind] > 0) {
        freeing[track.kind]--
        continue
      }
      this.waiting.delete(track.id)
      this.carry(line === undefined ? this.addLine(track.kind, 'sendonly') : this.reuse(line), track)
    }
  }

  /** Turns an idle line `sendonly` again, with a fresh output for its next track. */
  private reuse(line: Line): Line {
    line.transceiver.setDirection('sendonly')
    // a fresh output: not ready until refreshed, and then asks for a keyframe as a new receiver;
    // its sequence numbers and timestamps go on from the previous track's (same SSRC)
    const prev = line.output
    line.output = createOutput(line.transceiver.sender, prev.last ?? prev.continueFrom)
    return line
  }

  private carry(line: Line, track: ForwardedTrack): void {
    line.track = track
    line.since = this.offers
    // RFC 8830 §2: msid-id = 1*64token-char; user ids may hold ':', which is not one
    line.transceiver.sender.streamId = encodeURIComponent(track.owner)
    this.busy.set(track.id, line)
  }

  private addLine(kind: 'audio' | 'video', direction: 'sendonly' | 'inactive'): Line {
    const transceiver = this.components.pc.addTransceiver(kind, { direction })
    const output = createOutput(transceiver.sender)
    const line: Line = { kind, transceiver, track: undefined, output, since: 0, idleSince: 0 }
    this.lines.push(line)
    // the line's current track, whichever it is by the time feedback arrives
    transceiver.sender.onPictureLossIndication.subscribe(() => {
      if (line.track !== undefined) this.components.keyframe(line.track.id)
    })
    transceiver.sender.onGenericNack.subscribe((nack) =>
      line.track?.forwarder.retransmit(line.output, nack.lost),
    )
    return line
  }
}
