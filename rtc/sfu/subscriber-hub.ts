/**
 * The receive side of the SFU: one werift peer connection per subscriber, offered by the SFU
 * with one sendonly transceiver per published track in the room, renegotiated when tracks
 * appear or end. Runs in the main thread or inside a shard worker; it only sees serialized RTP.
 *
 * A transceiver (m-line) whose track ended is offered `inactive` and, once that offer is out,
 * carries the next track of its kind (`sendonly` again, its msid naming the new owner): a
 * subscriber's SDP holds as many m-lines as tracks were ever live at once, not one per track ever
 * forwarded. The subscriber takes offers in order, so it sees the line idle before it sees the new
 * track: every track on a reused line is a fresh "track" event at the client (RFC 8829 §5.10: a
 * direction that starts to include receiving fires one), never a silent swap under an old one.
 * Its media flows only once the subscriber answered the offer that made it `sendonly` again.
 */
import type { Logger } from '@libp2p/logger'
import { logger as createLogger } from '@libp2p/logger'
import { RTCPeerConnection, type RTCRtpTransceiver } from 'werift'
import { JOIN_SLOT_TIMEOUT_MS, MAX_CONCURRENT_JOINS } from '../constants.ts'
import { AbortError, MediaError } from '../errors.ts'
import { abortable, throwIfAborted } from '../util/abortable.ts'
import { createOutput, type ForwardMode, type Output, TrackForwarder } from './forwarder.ts'
import { type PeerConfigInit, peerConfig } from './peer-config.ts'

/** Callbacks of {@link SubscriberHub}. */
export interface SubscriberHubComponents {
  /** An SDP offer for `user` to answer. */
  offer(room: string, user: string, sdp: string): void
  /** Some subscriber needs a keyframe of `trackId` (joined, or sent a PLI). */
  keyframe(trackId: string): void
  logger?: Logger
}

/** Options of {@link SubscriberHub}. */
export interface SubscriberHubInit extends PeerConfigInit {
  /** @default 'fast' */
  mode?: ForwardMode
  /**
   * Subscriber connections being set up at once; later ones wait for a slot. Hundreds of
   * simultaneous ICE + DTLS handshakes starve each other into timeouts, a bounded window
   * finishes them all sooner. @default {@link MAX_CONCURRENT_JOINS}
   */
  maxConcurrentJoins?: number
}

/** Counters of one shard. */
export interface ShardStats {
  sent: number
  retransmitted: number
  subscribers: number
  ready: number
  /** Outputs on the fast SRTP path. */
  fastOutputs: number
  /** Arrival-to-last-send delays (ms) of packets since the previous call, at most {@link DELAY_SAMPLES}. */
  delaysMs: number[]
}

/** Forwarding-delay samples kept between two `stats()` calls. */
export const DELAY_SAMPLES = 4096

/** A published track as the hub knows it. */
export interface TrackInfo {
  id: string
  room: string
  owner: string
  kind: 'audio' | 'video'
}

interface Track extends TrackInfo {
  forwarder: TrackForwarder
}

/** One m-line of a subscriber connection and the track it carries now, if any. */
interface Line {
  kind: 'audio' | 'video'
  transceiver: RTCRtpTransceiver
  /** Undefined while idle (offered `inactive`). */
  track: Track | undefined
  output: Output
  /** `Sub.offers` when the line took its track: the track flows once a later offer is answered. */
  since: number
  /** `Sub.offers` when the line went idle: it is reused once a later offer was built (it says `inactive`). */
  idleSince: number
}

interface Sub {
  room: string
  user: string
  pc: RTCPeerConnection
  /** Every m-line, busy or idle; grows only when no idle line of a track's kind is reusable. */
  lines: Line[]
  /** Busy lines by track id. */
  slots: Map<string, Line>
  /** Offers made so far. */
  offers: number
  /** `offers` at the time of the offer whose answer was applied last (0: none yet). */
  answered: number
  /** `offers` at the time of the offer whose SDP was built last (0: none yet). */
  built: number
  negotiating: boolean
  /** The current offer went out and its answer has not been applied yet. */
  awaitingAnswer: boolean
  dirty: boolean
  /** Frees this subscriber's join slot (once). */
  release: () => void
}

const key = (room: string, user: string): string => `${room}\u0000${user}`

/** Media sections ("m=" lines) of an SDP. */
const mLines = (sdp: string): number => sdp.match(/^m=/gm)?.length ?? 0

/** Subscriber connections and the forwarders feeding them. */
export class SubscriberHub {
  private readonly components: SubscriberHubComponents
  private readonly init: SubscriberHubInit
  private readonly log: Logger
  private readonly tracks = new Map<string, Track>()
  private readonly subs = new Map<string, Sub>()
  private joining = 0
  private delays: number[] = []
  /** Users who left while queued for a join slot. */
  private readonly cancelled = new Set<string>()
  /** Subscriptions waiting for a join slot: only these can be cancelled by a leave. */
  private readonly waitingJoin = new Set<string>()
  private readonly joinQueue: Array<() => void> = []
  /** Set by {@link close}: no connection is made after it, nobody would close it. */
  private closed = false

  constructor(components: SubscriberHubComponents, init: SubscriberHubInit = {}) {
    this.components = components
    this.init = init
    this.log = components.logger ?? createLogger('dandelion:rtc:sfu:subscribers')
  }

  /** A track was published in `room`: every subscriber there but its owner gets a transceiver. */
  addTrack(info: TrackInfo): void {
    if (this.tracks.has(info.id)) return
    const forwarder = new TrackForwarder({
      mode: this.init.mode,
      // a new receiver cannot decode until the next keyframe
      onReady: () => {
        if (info.kind === 'video') this.components.keyframe(info.id)
      },
    })
    const track: Track = { ...info, forwarder }
    this.tracks.set(info.id, track)
    for (const sub of this.subs.values()) {
      if (sub.room === info.room && sub.user !== info.owner) {
        this.attach(sub, track)
        this.negotiate(sub)
      }
    }
  }

  /** A track ended: stop forwarding it; its m-line goes `inactive`, free for the next track of its kind. */
  removeTrack(trackId: string): void {
    const track = this.tracks.get(trackId)
    if (track === undefined) return
    this.tracks.delete(trackId)
    track.forwarder.outputs.length = 0
    for (const sub of this.subs.values()) {
      const line = sub.slots.get(trackId)
      if (line === undefined) continue
      sub.slots.delete(trackId)
      line.track = undefined
      line.idleSince = sub.offers
      line.transceiver.setDirection('inactive')
      line.transceiver.sender.streamIds = []
      this.negotiate(sub)
    }
  }

  /** Forwards one serialized RTP packet of `trackId`. */
  rtp(trackId: string, buf: Buffer, at: number): void {
    const forwarder = this.tracks.get(trackId)?.forwarder
    if (forwarder === undefined) return
    const before = forwarder.sent
    forwarder.forward(buf)
    if (forwarder.sent !== before && this.delays.length < DELAY_SAMPLES) {
      this.delays.push(performance.timeOrigin + performance.now() - at)
    }
  }

  /**
   * Creates `user`'s receive connection and sends its first offer. Aborting `options.signal`
   * before that offer is out (queued for a join slot, gathering) closes the connection, gives
   * the slot back and rejects with {@link AbortError}.
   */
  async subscribe(room: string, user: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options
    const k = key(room, user)
    if (this.closed) throw new MediaError('the SFU is closed')
    throwIfAborted(signal, 'subscribe aborted')
    // subscribing again means the client gave up on its connection: start over
    if (this.subs.has(k)) await this.leave(room, user)
    this.cancelled.delete(k)
    this.waitingJoin.add(k)
    let release: () => void
    try {
      release = await this.joinSlot(signal)
    } finally {
      this.waitingJoin.delete(k)
    }
    // while waiting, the user may have left or subscribed again
    if (this.cancelled.delete(k)) {
      release()
      return
    }
    if (this.subs.has(k)) await this.leave(room, user)
    // or the hub closed: a subscription queued for a slot got one close() freed and made a
    // connection (its UDP sockets, its timers) that nothing closed any more
    if (this.closed) {
      release()
      return
    }
    if (signal?.aborted === true) {
      release()
      throwIfAborted(signal, 'subscribe aborted')
    }
    const pc = new RTCPeerConnection(peerConfig(this.init))
    const sub: Sub = {
      room,
      user,
      pc,
      lines: [],
      slots: new Map(),
      offers: 0,
      answered: 0,
      built: 0,
      negotiating: false,
      awaitingAnswer: false,
      dirty: false,
      release,
    }
    this.subs.set(k, sub)
    const slotTimer = setTimeout(release, JOIN_SLOT_TIMEOUT_MS)
    slotTimer.unref()
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') this.refresh(sub)
      if (state !== 'new' && state !== 'connecting') {
        clearTimeout(slotTimer)
        release()
      }
      if (state === 'failed' || state === 'closed') this.log('subscriber %s/%s %s', room, user, state)
      // a failed receive connection is freed at once; the client subscribes again if it still wants media
      if (state === 'failed' && this.subs.get(k) === sub) {
        this.leave(room, user).catch((err) => this.log('leave failed %e', err))
      }
    })
    for (const track of this.tracks.values()) {
      if (track.room === room && track.owner !== user) this.attach(sub, track)
    }
    if (sub.slots.size === 0) {
      // an empty offer cannot be negotiated; an idle line keeps the transport ready for later
      // tracks, and carries the first video one
      this.addLine(sub, 'video', 'inactive')
    }
    try {
      // gathering may take seconds with a STUN or TURN server: an abort does not wait for it
      await abortable(this.negotiate(sub), signal, 'subscribe aborted')
    } catch (err) {
      clearTimeout(slotTimer)
      // the offer of a connection left behind is never sent (negotiate checks it is still ours)
      if (this.subs.get(k) === sub) await this.leave(room, user)
      throw err
    }
  }

  /**
   * Applies `user`'s answer; renegotiates if tracks changed meanwhile. An answer werift cannot use
   * rejects with {@link MediaError} and ends the negotiation, so later tracks are offered again.
   */
  async answer(
    room: string,
    user: string,
    sdp: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    throwIfAborted(options.signal, 'answer aborted')
    const sub = this.subs.get(key(room, user))
    if (sub === undefined) throw new MediaError(`no subscription for ${user}`)
    try {
      // RFC 3264 §6: "The answer MUST contain exactly the same number of "m=" lines as the offer."
      // werift takes an answer without any (even one that is not SDP at all) and calls it done.
      const offered = mLines(sub.pc.localDescription?.sdp ?? '')
      if (mLines(sdp) !== offered)
        throw new Error(`the answer has ${mLines(sdp)} m-lines, the offer ${offered}`)
      await sub.pc.setRemoteDescription({ type: 'answer', sdp })
    } catch (err) {
      // left `negotiating`, this subscriber would get no offer again until it subscribed anew;
      // tracks that arrived meanwhile get a fresh offer now, later ones get theirs when they come
      // (a stale answer that fails while the next offer is being made changes nothing)
      if (this.subs.get(key(room, user)) === sub && sub.awaitingAnswer) {
        sub.awaitingAnswer = false
        sub.negotiating = false
        if (sub.dirty) this.negotiate(sub)
      }
      throw new MediaError(`unusable subscribe answer: ${(err as Error).message}`)
    }
    sub.awaitingAnswer = false
    sub.negotiating = false
    sub.answered = sub.offers
    this.refresh(sub)
    if (sub.dirty) this.negotiate(sub)
  }

  /** Closes `user`'s connection and detaches it from every track. */
  async leave(room: string, user: string): Promise<void> {
    const k = key(room, user)
    const sub = this.subs.get(k)
    if (sub === undefined) {
      // a subscription still waiting for its join slot is dropped when it gets one
      if (this.waitingJoin.has(k)) this.cancelled.add(k)
      return
    }
    this.subs.delete(k)
    sub.release()
    for (const line of sub.slots.values()) line.track!.forwarder.remove(line.output)
    sub.slots.clear()
    await sub.pc.close().catch((err) => this.log('close failed %e', err))
  }

  /** Packets forwarded and subscribers held. */
  stats(): ShardStats {
    let sent = 0
    let retransmitted = 0
    let fastOutputs = 0
    for (const t of this.tracks.values()) {
      sent += t.forwarder.sent
      retransmitted += t.forwarder.retransmitted
      for (const o of t.forwarder.outputs) if (o.fast !== undefined) fastOutputs++
    }
    let ready = 0
    for (const s of this.subs.values()) if (s.pc.connectionState === 'connected') ready++
    const delaysMs = this.delays
    this.delays = []
    return { sent, retransmitted, subscribers: this.subs.size, ready, fastOutputs, delaysMs }
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.closed = true
    // wake every subscription still queued for a join slot: each sees `closed` and gives its slot back
    for (const wake of this.joinQueue.splice(0)) wake()
    await Promise.all([...this.subs.values()].map((s) => this.leave(s.room, s.user)))
    this.tracks.clear()
  }

  /**
   * Waits for a join slot; resolves with its (idempotent) release. Aborting `signal` while queued
   * leaves the queue and rejects with {@link AbortError}.
   */
  private async joinSlot(signal?: AbortSignal): Promise<() => void> {
    const max = this.init.maxConcurrentJoins ?? MAX_CONCURRENT_JOINS
    if (this.joining >= max) {
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        const onAbort = (): void => {
          const i = this.joinQueue.indexOf(wake)
          if (i >= 0) this.joinQueue.splice(i, 1)
          reject(new AbortError('subscribe aborted', { cause: signal?.reason }))
        }
        this.joinQueue.push(wake)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
    this.joining++
    let released = false
    return () => {
      if (released) return
      released = true
      this.joining--
      this.joinQueue.shift()?.()
    }
  }

  /**
   * Puts `track` on an idle line of its kind already offered as `inactive` (the subscriber takes
   * offers in order: it sees the line idle before it sees the new track), or on a new line.
   */
  private attach(sub: Sub, track: Track): void {
    if (sub.slots.has(track.id)) return
    let line = sub.lines.find(
      (l) => l.track === undefined && l.kind === track.kind && l.idleSince < sub.built,
    )
    if (line === undefined) {
      line = this.addLine(sub, track.kind, 'sendonly')
    } else {
      line.transceiver.setDirection('sendonly')
      // a fresh output: not ready until refreshed, and then asks for a keyframe as a new receiver;
      // its sequence numbers and timestamps go on from the previous track's (same SSRC)
      const prev = line.output
      line.output = createOutput(line.transceiver.sender, prev.last ?? prev.continueFrom)
    }
    line.track = track
    line.since = sub.offers
    // RFC 8830 §2: msid-id = 1*64token-char; user ids may hold ':', which is not one
    line.transceiver.sender.streamId = encodeURIComponent(track.owner)
    sub.slots.set(track.id, line)
  }

  private addLine(sub: Sub, kind: 'audio' | 'video', direction: 'sendonly' | 'inactive'): Line {
    const transceiver = sub.pc.addTransceiver(kind, { direction })
    const output = createOutput(transceiver.sender)
    const line: Line = { kind, transceiver, track: undefined, output, since: 0, idleSince: 0 }
    sub.lines.push(line)
    // the line's current track, whichever it is by the time feedback arrives
    transceiver.sender.onPictureLossIndication.subscribe(() => {
      if (line.track !== undefined) this.components.keyframe(line.track.id)
    })
    transceiver.sender.onGenericNack.subscribe((nack) =>
      line.track?.forwarder.retransmit(line.output, nack.lost),
    )
    return line
  }

  /**
   * Starts forwarding on every line the subscriber has answered as `sendonly`. A reused line's
   * sender is ready at once: sending before the answer would feed the client's old track.
   */
  private refresh(sub: Sub): void {
    for (const line of sub.slots.values()) {
      if (line.since < sub.answered) line.track!.forwarder.add(line.output)
    }
  }

  /**
   * Makes and sends an offer for `sub`, or marks it dirty if one is under way. Resolves once the
   * offer is out (or was dropped: `sub` is gone); never rejects, a failure is logged.
   */
  private negotiate(sub: Sub): Promise<void> {
    if (sub.negotiating) {
      sub.dirty = true
      return Promise.resolve()
    }
    sub.negotiating = true
    sub.dirty = false
    const n = ++sub.offers
    return (async () => {
      const offer = await sub.pc.createOffer()
      sub.built = n
      await sub.pc.setLocalDescription(offer)
      if (this.subs.get(key(sub.room, sub.user)) !== sub) return
      sub.awaitingAnswer = true
      this.components.offer(sub.room, sub.user, sub.pc.localDescription!.sdp)
    })().catch((err) => {
      sub.negotiating = false
      // a connection closed under its negotiation (the subscriber left) is no failure
      if (this.subs.get(key(sub.room, sub.user)) === sub)
        this.log.error('offer for %s failed %e', sub.user, err)
    })
  }
}
