/**
 * The werift SFU, an {@link RtcProvider}. Publishers connect to the main thread (the publisher
 * offers, the SFU answers); every received packet is serialized once and handed to each shard,
 * where subscriber connections live. Keyframe requests from any subscriber reach the publisher
 * at most once per {@link PLI_THROTTLE_MS}; active speaker comes from audio-level extensions.
 */
import type { Logger } from '@libp2p/logger'
import { logger as createLogger } from '@libp2p/logger'
import { RTCPeerConnection, type RTCRtpReceiver } from 'werift'
import { PLI_THROTTLE_MS, SPEAKER_INTERVAL_MS } from '../constants.ts'
import { AbortError, MediaError } from '../errors.ts'
import type { ProviderCounters, ProviderOptions, RtcProvider, RtcProviderHandlers } from '../provider.ts'
import { abortable, throwIfAborted } from '../util/abortable.ts'
import type { ForwardMode } from './forwarder.ts'
import { audioLevelExtId, type PeerConfigInit, peerConfig } from './peer-config.ts'
import { LocalShard, type Shard, type ShardEvents, WorkerShard } from './shard.ts'
import { SpeakerDetector } from './speaker.ts'

/** Options of {@link WeriftSfu}. */
export interface WeriftSfuInit extends PeerConfigInit {
  /** Worker threads holding subscribers; 0 keeps them in the main thread. @default 0 */
  shards?: number
  /** @default 'fast' */
  mode?: ForwardMode
  /** @default {@link PLI_THROTTLE_MS} */
  pliThrottleMs?: number
  /** Subscriber connections set up at once per shard. @default {@link MAX_CONCURRENT_JOINS} */
  maxConcurrentJoins?: number
}

/** Live things the SFU uses. */
export interface WeriftSfuComponents {
  logger?: Logger
}

interface PubTrack {
  id: string
  receiver: RTCRtpReceiver
  ssrc: number
  lastPli: number
}

interface Publisher {
  room: string
  user: string
  pc: RTCPeerConnection
  tracks: PubTrack[]
}

const key = (room: string, user: string): string => `${room}\u0000${user}`

/** Counters for tests and the benchmark. */
export interface SfuStats {
  /** Packets received from publishers. */
  received: number
  /** Packets handed to subscriber senders, all shards. */
  sent: number
  /** Packets sent again in answer to subscribers' NACKs. */
  retransmitted: number
  subscribers: number
  /** Subscriber connections in state `connected`. */
  ready: number
  /**
   * SFU forwarding delay samples (ms) since the previous `stats()` call: from a packet's
   * arrival in the main thread to its send to the last subscriber of its shard.
   */
  forwardDelaysMs: number[]
  /** Subscriber outputs on the fast SRTP path. */
  fastOutputs: number
  /** Publishing connections. */
  publishers: number
  /** Published tracks being forwarded, all publishers. */
  tracks: number
  /** Keyframe requests sent to publishers. */
  plisSent: number
}

/** The werift SFU. */
export class WeriftSfu implements RtcProvider {
  private readonly log: Logger
  private readonly init: WeriftSfuInit
  private readonly shards: Shard[]
  private readonly load: number[]
  private readonly placement = new Map<string, number>()
  private readonly publishers = new Map<string, Publisher>()
  /** The last queued publish of each user still running; one entry per publishing user at most. */
  private readonly publishing = new Map<string, Promise<void>>()
  private readonly tracks = new Map<string, PubTrack>()
  private readonly speakers = new SpeakerDetector()
  private readonly speakerTimer: ReturnType<typeof setInterval>
  private handlers: RtcProviderHandlers | undefined
  private received = 0
  private plisSent = 0
  /** Set by {@link close}: no connection is made after it, nobody would close it. */
  private closed = false

  constructor(components: WeriftSfuComponents = {}, init: WeriftSfuInit = {}) {
    this.log = components.logger ?? createLogger('dandelion:rtc:sfu')
    this.init = init
    const events: ShardEvents = {
      offer: (room, user, sdp) => this.handlers?.offer(room, user, sdp),
      keyframe: (trackId) => this.keyframe(trackId),
    }
    const hubInit = {
      mode: init.mode,
      loopback: init.loopback,
      hostAddresses: init.hostAddresses,
      // receive connections gather with the same STUN/TURN servers as publish connections
      iceServers: init.iceServers,
      turn: init.turn,
      maxConcurrentJoins: init.maxConcurrentJoins,
    }
    const n = init.shards ?? 0
    this.shards =
      n === 0
        ? [new LocalShard(events, hubInit)]
        : Array.from({ length: n }, () => new WorkerShard(events, hubInit))
    this.load = this.shards.map(() => 0)
    this.speakerTimer = setInterval(() => {
      for (const { room, user } of this.speakers.evaluate()) this.handlers?.speaker(room, user)
    }, SPEAKER_INTERVAL_MS)
    this.speakerTimer.unref()
  }

  attach(handlers: RtcProviderHandlers): void {
    this.handlers = handlers
  }

  /**
   * Answers `user`'s publish offer. Aborting `options.signal` stops the negotiation at once: the
   * call rejects with {@link AbortError} and its connection and tracks are gone (a publish still
   * queued behind another of the same user never starts).
   */
  async publish(room: string, user: string, offer: string, options: ProviderOptions = {}): Promise<string> {
    const { signal } = options
    throwIfAborted(signal, 'publish aborted')
    // publishes of one user run one after the other: two racing ones would each unpublish first,
    // then both set their connection and the first would be dropped from the map still open
    const k = key(room, user)
    const before = this.publishing.get(k) ?? Promise.resolve()
    const run = abortable(before, signal, 'publish aborted').then(() =>
      this.publishNow(room, user, offer, signal),
    )
    // the next publish waits for this one's predecessor too: one aborted while queued settles
    // at once, and the next would otherwise run alongside the one still under way
    const settled = Promise.allSettled([before, run]).then(() => {})
    this.publishing.set(k, settled)
    try {
      return await run
    } finally {
      if (this.publishing.get(k) === settled) this.publishing.delete(k)
    }
  }

  private async publishNow(room: string, user: string, offer: string, signal?: AbortSignal): Promise<string> {
    await this.unpublish(room, user)
    // a publish queued or under way when close() ran (it closed the publishers it found then)
    // would otherwise open a connection and its UDP sockets after it, for ever
    if (this.closed) throw new MediaError('the SFU is closed')
    throwIfAborted(signal, 'publish aborted')
    const pc = new RTCPeerConnection(peerConfig(this.init))
    const pub: Publisher = { room, user, pc, tracks: [] }
    this.publishers.set(key(room, user), pub)
    // a publish connection that fails (network gone, consent expired) is torn down with its tracks
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'failed' && this.publishers.get(key(room, user)) === pub) {
        this.unpublish(room, user).catch((err) => this.log('unpublish failed %e', err))
      }
    })
    const levelExt = audioLevelExtId(offer)
    pc.ontrack = ({ track, receiver }) => {
      // werift may still be applying the offer of a publish that was aborted and torn down
      if (this.publishers.get(key(room, user)) !== pub) return
      const kind = track.kind as 'audio' | 'video'
      const id = `${room}/${user}/${kind}/${pub.tracks.length}`
      const t: PubTrack = { id, receiver, ssrc: track.ssrc ?? 0, lastPli: 0 }
      pub.tracks.push(t)
      this.tracks.set(id, t)
      for (const s of this.shards) s.addTrack({ id, room, owner: user, kind })
      track.onReceiveRtp.subscribe((rtp) => {
        this.received++
        if (t.ssrc === 0) t.ssrc = rtp.header.ssrc
        if (kind === 'audio' && levelExt !== undefined) {
          for (const ext of rtp.header.extensions) {
            if (ext.id === levelExt && ext.payload.length > 0) this.speakers.level(room, user, ext.payload[0])
          }
        }
        const buf = rtp.serialize()
        const at = performance.timeOrigin + performance.now()
        for (const s of this.shards) s.rtp(id, buf, at)
      })
    }
    const negotiate = async (): Promise<string> => {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer })
      const answer = await pc.createAnswer()
      await pc.setLocalDescription(answer)
      return pc.localDescription!.sdp
    }
    try {
      // gathering alone may take seconds with a STUN or TURN server: an abort does not wait for it
      return await abortable(negotiate(), signal, 'publish aborted')
    } catch (err) {
      // an offer werift cannot use is the client's fault, not ours: say so, and keep no
      // half-made connection in the room until the user's next publish or leave
      if (this.publishers.get(key(room, user)) === pub) await this.unpublish(room, user)
      if (err instanceof AbortError) throw err
      throw new MediaError(`unusable publish offer: ${(err as Error).message}`)
    }
  }

  async unpublish(room: string, user: string): Promise<void> {
    const k = key(room, user)
    const pub = this.publishers.get(k)
    if (pub === undefined) return
    this.publishers.delete(k)
    for (const t of pub.tracks) {
      this.tracks.delete(t.id)
      for (const s of this.shards) s.removeTrack(t.id)
    }
    this.speakers.remove(room, user)
    await pub.pc.close().catch((err) => this.log('close failed %e', err))
  }

  /**
   * Creates `user`'s receive connection and sends its first offer. Aborting `options.signal` before
   * that offer is out (waiting for a join slot, gathering) closes the connection, frees the slot
   * and rejects with {@link AbortError}.
   */
  async subscribe(room: string, user: string, options: ProviderOptions = {}): Promise<void> {
    throwIfAborted(options.signal, 'subscribe aborted')
    const k = key(room, user)
    let i = this.placement.get(k)
    if (i === undefined) {
      i = this.load.indexOf(Math.min(...this.load))
      this.placement.set(k, i)
      this.load[i]++
    }
    await this.shards[i].subscribe(room, user, options)
  }

  async answer(room: string, user: string, sdp: string, options: ProviderOptions = {}): Promise<void> {
    throwIfAborted(options.signal, 'answer aborted')
    const i = this.placement.get(key(room, user))
    if (i === undefined) throw new MediaError(`${user} has not subscribed`)
    await this.shards[i].answer(room, user, sdp, options)
  }

  async leave(room: string, user: string): Promise<void> {
    await this.unpublish(room, user)
    const k = key(room, user)
    const i = this.placement.get(k)
    if (i === undefined) return
    this.placement.delete(k)
    this.load[i]--
    await this.shards[i].leave(room, user)
  }

  /** Asks the publisher of `trackId` for a keyframe, throttled. */
  keyframe(trackId: string): void {
    const t = this.tracks.get(trackId)
    if (t === undefined || t.ssrc === 0) return
    const now = Date.now()
    if (now - t.lastPli < (this.init.pliThrottleMs ?? PLI_THROTTLE_MS)) return
    t.lastPli = now
    this.plisSent++
    t.receiver.sendRtcpPLI(t.ssrc).catch((err) => this.log('PLI failed %e', err))
  }

  /** Counters summed over shards. */
  /**
   * Counters and the forwarding-delay samples since the previous call; `peek` leaves the
   * samples for the next call without it (`/metrics` scrapes must not take the benchmark's).
   */
  async stats(peek = false): Promise<SfuStats> {
    const per = await Promise.all(this.shards.map((s) => s.stats(peek)))
    return {
      received: this.received,
      sent: per.reduce((a, s) => a + s.sent, 0),
      retransmitted: per.reduce((a, s) => a + s.retransmitted, 0),
      fastOutputs: per.reduce((a, s) => a + s.fastOutputs, 0),
      forwardDelaysMs: per.flatMap((s) => s.delaysMs),
      subscribers: per.reduce((a, s) => a + s.subscribers, 0),
      ready: per.reduce((a, s) => a + s.ready, 0),
      plisSent: this.plisSent,
      publishers: this.publishers.size,
      tracks: this.tracks.size,
    }
  }

  /** {@link RtcProvider.counters}: the stats, peeked. */
  async counters(): Promise<ProviderCounters> {
    const s = await this.stats(true)
    return {
      publishers: s.publishers,
      tracks: s.tracks,
      subscribers: s.subscribers,
      subscribersConnected: s.ready,
      packetsReceived: s.received,
      packetsSent: s.sent,
      packetsRetransmitted: s.retransmitted,
      keyframeRequests: s.plisSent,
    }
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.speakerTimer)
    await Promise.all([...this.publishers.values()].map((p) => this.unpublish(p.room, p.user)))
    await Promise.all(this.shards.map((s) => s.close()))
  }
}
