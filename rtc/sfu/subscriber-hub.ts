/**
 * The receive side of the SFU: one werift peer connection per subscriber, offered by the SFU
 * with one sendonly transceiver per published track in the room, renegotiated when tracks
 * appear or end. Runs in the main thread or inside a shard worker; it only sees serialized RTP.
 * Beside it: which m-line carries which track and when a line freed by an ended track is reused
 * (`subscriber-lines.ts`), the offer/answer rounds with each subscriber
 * (`subscriber-negotiation.ts`), join slots (`join-window.ts`), public types
 * (`subscriber-hub-types.ts`).
 */
import type { Logger } from '@libp2p/logger'
import { logger as createLogger } from '@libp2p/logger'
import { RTCPeerConnection } from 'werift'
import { JOIN_SLOT_TIMEOUT_MS } from '../constants.ts'
import { MediaError } from '../errors.ts'
import { abortable, throwIfAborted } from '../util/abortable.ts'
import { TrackForwarder } from './forwarder.ts'
import { JoinWindow } from './join-window.ts'
import { peerConfig } from './peer-config.ts'
import {
  DELAY_SAMPLES,
  type ShardStats,
  type SubscriberHubComponents,
  type SubscriberHubInit,
  type TrackInfo,
} from './subscriber-hub-types.ts'
import { type ForwardedTrack, SubscriberLines } from './subscriber-lines.ts'
import { SubscriberNegotiation } from './subscriber-negotiation.ts'

interface Track extends TrackInfo, ForwardedTrack {}

interface Sub {
  room: string
  user: string
  pc: RTCPeerConnection
  /** Its m-lines and the offers that showed them. */
  lines: SubscriberLines
  negotiation: SubscriberNegotiation
  /** Frees this subscriber's join slot (once). */
  release: () => void
}

const key = (room: string, user: string): string => `${room}\u0000${user}`

/** Subscriber connections and the forwarders feeding them. */
export class SubscriberHub {
  private readonly components: SubscriberHubComponents
  private readonly init: SubscriberHubInit
  private readonly log: Logger
  private readonly tracks = new Map<string, Track>()
  private readonly subs = new Map<string, Sub>()
  private delays: number[] = []
  /** Users who left while queued for a join slot. */
  private readonly cancelled = new Set<string>()
  /** Subscriptions waiting for a join slot: only these can be cancelled by a leave. */
  private readonly waitingJoin = new Set<string>()
  private readonly joins: JoinWindow
  /** Set by {@link close}: no connection is made after it, nobody would close it. */
  private closed = false

  constructor(components: SubscriberHubComponents, init: SubscriberHubInit = {}) {
    this.components = components
    this.init = init
    this.joins = new JoinWindow(init)
    this.log = components.logger ?? createLogger('dandelion:rtc:sfu:subscribers')
  }

  /**
   * A track was published in `room`: every subscriber there but its owner gets it on a transceiver
   * in its next offer.
   */
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
        sub.lines.add(track)
        sub.negotiation.negotiate()
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
      if (sub.lines.remove(trackId)) sub.negotiation.negotiate()
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
      release = await this.joins.acquire({ signal })
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
    const lines = new SubscriberLines({ pc, keyframe: (trackId) => this.components.keyframe(trackId) })
    const negotiation = new SubscriberNegotiation(
      {
        pc,
        lines,
        offer: (sdp) => this.components.offer(room, user, sdp),
        // the offer of a connection left behind is never sent
        current: () => this.subs.get(k) === sub,
        logger: this.log,
      },
      { user },
    )
    const sub: Sub = { room, user, pc, lines, negotiation, release }
    this.subs.set(k, sub)
    const slotTimer = setTimeout(release, JOIN_SLOT_TIMEOUT_MS)
    slotTimer.unref()
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') sub.lines.refresh()
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
      if (track.room === room && track.owner !== user) sub.lines.add(track)
    }
    try {
      // gathering may take seconds with a STUN or TURN server: an abort does not wait for it
      await abortable(negotiation.negotiate(), signal, 'subscribe aborted')
    } catch (err) {
      clearTimeout(slotTimer)
      // the offer of a connection left behind is never sent (its negotiation checks it is current)
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
    await sub.negotiation.answer(sdp)
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
    sub.lines.clear()
    await sub.pc.close().catch((err) => this.log('close failed %e', err))
  }

  /**
   * Packets forwarded and subscribers held; the forwarding-delay samples since the last call
   * that took them, unless `peek` (a metrics scrape must not take the benchmark's samples).
   */
  stats(peek = false): ShardStats {
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
    const delaysMs = peek ? [] : this.delays
    if (!peek) this.delays = []
    return { sent, retransmitted, subscribers: this.subs.size, ready, fastOutputs, delaysMs }
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.closed = true
    // wake every subscription still queued for a join slot: each sees `closed` and gives its slot back
    this.joins.wakeAll()
    await Promise.all([...this.subs.values()].map((s) => this.leave(s.room, s.user)))
    this.tracks.clear()
  }
}
