/**
 * Offer/answer rounds with one subscriber, one at a time: the SFU offers, the subscriber answers,
 * and whatever changed meanwhile goes into the next offer, made once the answer is applied.
 */
import type { Logger } from '@libp2p/logger'
import type { RTCPeerConnection } from 'werift'
import { MediaError } from '../errors.ts'
import type { SubscriberLines } from './subscriber-lines.ts'

/** Live things {@link SubscriberNegotiation} uses. */
export interface SubscriberNegotiationComponents {
  /** The subscriber connection. */
  pc: RTCPeerConnection
  /** Its m-lines, which each offer shows. */
  lines: SubscriberLines
  /** Sends an offer to the subscriber. */
  offer(sdp: string): void
  /** False once the connection is no longer the subscriber's (it left, or subscribed again). */
  current(): boolean
  logger: Logger
}

/** Options of {@link SubscriberNegotiation}. */
export interface SubscriberNegotiationInit {
  /** Whose connection it is, for the log. */
  user?: string
}

/** Media sections ("m=" lines) of an SDP. */
const mLines = (sdp: string): number => sdp.match(/^m=/gm)?.length ?? 0

/** The offer/answer rounds of one subscriber connection. */
export class SubscriberNegotiation {
  private readonly components: SubscriberNegotiationComponents
  private readonly user: string
  private negotiating = false
  /** The current offer went out and its answer has not been applied yet. */
  private awaitingAnswer = false
  /** Something changed since the current offer was made: another follows its answer. */
  private dirty = false

  constructor(components: SubscriberNegotiationComponents, init: SubscriberNegotiationInit = {}) {
    this.components = components
    this.user = init.user ?? ''
  }

  /**
   * Makes and sends an offer, or marks one due if a round is under way. Resolves once the offer
   * is out (or was dropped: the connection is no longer current); never rejects, a failure is
   * logged.
   */
  negotiate(): Promise<void> {
    if (this.negotiating) {
      this.dirty = true
      return Promise.resolve()
    }
    const { pc, lines } = this.components
    this.negotiating = true
    this.dirty = false
    const n = lines.startOffer()
    return (async () => {
      const offer = await pc.createOffer()
      lines.offerBuilt(n)
      // a track waiting for a line this offer turns `inactive` takes it in the next offer
      if (lines.waits) this.dirty = true
      await pc.setLocalDescription(offer)
      if (!this.components.current()) return
      this.awaitingAnswer = true
      this.components.offer(pc.localDescription!.sdp)
    })().catch((err) => {
      this.negotiating = false
      // a connection closed under its negotiation (the subscriber left) is no failure
      if (this.components.current()) this.components.logger.error('offer for %s failed %e', this.user, err)
    })
  }

  /**
   * Applies the subscriber's answer; renegotiates if tracks changed meanwhile. An answer werift
   * cannot use rejects with {@link MediaError} and ends the round, so later tracks are offered again.
   */
  async answer(sdp: string): Promise<void> {
    const { pc, lines } = this.components
    try {
      // RFC 3264 §6: "The answer MUST contain exactly the same number of "m=" lines as the offer."
      // werift takes an answer without any (even one that is not SDP at all) and calls it done.
      const offered = mLines(pc.localDescription?.sdp ?? '')
      if (mLines(sdp) !== offered)
        throw new Error(`the answer has ${mLines(sdp)} m-lines, the offer ${offered}`)
      await pc.setRemoteDescription({ type: 'answer', sdp })
    } catch (err) {
      // left `negotiating`, this subscriber would get no offer again until it subscribed anew;
      // tracks that arrived meanwhile get a fresh offer now, later ones get theirs when they come
      // (a stale answer that fails while the next offer is being made changes nothing)
      if (this.components.current() && this.awaitingAnswer) {
        this.awaitingAnswer = false
        this.negotiating = false
        if (this.dirty) this.negotiate()
      }
      throw new MediaError(`unusable subscribe answer: ${(err as Error).message}`)
    }
    this.awaitingAnswer = false
    this.negotiating = false
    lines.answerApplied()
    if (this.dirty) this.negotiate()
  }
}
