/**
 * werift media on top of a {@link SignalingClient}: publish a camera-like pair of tracks, and
 * receive everything the SFU forwards. Used by lamps, tests and the benchmark. Beside it: the
 * receive counters (`track-counter.ts`) and a connection's life, from its config to its
 * replacement (`peer-lifecycle.ts`).
 */
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpTransceiver } from 'werift'
import { RtcError } from '../errors.ts'
import { audioLevelExtId, type PeerConfigInit } from '../sfu/peer-config.ts'
import type { SignalingClient } from '../signaling/client.ts'
import { clientPeerConfig, replaceOnFailure, waitConnected, welcomed } from './peer-lifecycle.ts'
import { countTrack, type PacketListener, type TrackCounter } from './track-counter.ts'

export type { PacketListener, TrackCounter } from './track-counter.ts'

/** A publishing connection. */
export interface Publication {
  pc: RTCPeerConnection
  video: MediaStreamTrack
  audio: MediaStreamTrack
  /** The id this connection negotiated for the audio-level extension. */
  audioLevelExtId: number | undefined
  /** Keyframe requests that reached this publisher. */
  plis(): number
  /** Called on every keyframe request. */
  onKeyframeRequest(fn: () => void): void
  close(): Promise<void>
}

/** Options of {@link publish}. */
export interface PublishOptions {
  signal?: AbortSignal
  /**
   * Connection attempts before giving up; an attempt that gets no answer (its request or the
   * answer was lost with a dropped signaling socket) or does not connect in time starts afresh.
   * A refusal (`ERR_FORBIDDEN`, ...) is not tried again. @default 3
   */
  attempts?: number
  /** Time one attempt may take, from its offer to connected. @default 20000 */
  attemptTimeoutMs?: number
}

/**
 * Publishes an audio and a video track through the SFU; resolves once connected, gathering with
 * the STUN/TURN servers of the server's welcome unless `init.iceServers` is given. If the
 * connection fails later, a new one carrying the same tracks is published in its place (the SFU
 * tears the failed one down).
 */
export async function publish(
  sig: SignalingClient,
  init: PeerConfigInit = {},
  options: PublishOptions = {},
): Promise<Publication> {
  const video = new MediaStreamTrack({ kind: 'video' })
  const audio = new MediaStreamTrack({ kind: 'audio' })
  let plis = 0
  const listeners: Array<() => void> = []
  let pc!: RTCPeerConnection
  let closed = false
  const attempt = async (): Promise<void> => {
    const next = new RTCPeerConnection(clientPeerConfig(sig, init))
    const vt: RTCRtpTransceiver = next.addTransceiver(video, { direction: 'sendonly' })
    next.addTransceiver(audio, { direction: 'sendonly' })
    vt.sender.onPictureLossIndication.subscribe(() => {
      plis++
      for (const fn of listeners) fn()
    })
    pc = next
    const timeout = AbortSignal.timeout(options.attemptTimeoutMs ?? 20_000)
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
    // stops waiting for the answer once this attempt ends otherwise
    const replied = new AbortController()
    const waiting = AbortSignal.any([replied.signal, signal])
    try {
      await next.setLocalDescription(await next.createOffer())
      // A refusal (e.g. a class student not on stage) is an `error` naming this request's id.
      // Server errors used to name no request, and any error that came while the offer was out
      // (a late call accept, a hand raised too often) was taken for this one's refusal.
      const rid = sig.requestId()
      const answer = sig.reply(rid, 'publish-answer', { signal: waiting })
      answer.catch(() => {})
      const request = { type: 'publish', sdp: next.localDescription!.sdp, rid } as const
      // With the signaling socket down (it dropped, the client is reconnecting) the request went
      // nowhere and no answer would ever come: publish() waited for ever, its abort unheard.
      if (!sig.send(request)) {
        await welcomed(sig, signal)
        sig.send(request)
      }
      await next.setRemoteDescription({ type: 'answer', sdp: (await answer).sdp })
      replied.abort()
      await waitConnected(next, signal)
    } catch (err) {
      replied.abort()
      await next.close().catch(() => {})
      throw err
    }
  }
  const connect = async (): Promise<void> => {
    for (let n = 1; ; n++) {
      try {
        await attempt()
        return
      } catch (err) {
        // a refusal stays one; the caller's abort ends it; a lost request or answer is sent anew
        if (err instanceof RtcError || options.signal?.aborted === true || n >= (options.attempts ?? 3))
          throw err
      }
    }
  }
  await connect()
  const unwatch = replaceOnFailure(
    () => pc,
    connect,
    () => closed,
    sig,
  )
  return {
    get pc() {
      return pc
    },
    video,
    audio,
    audioLevelExtId: audioLevelExtId(pc.localDescription!.sdp),
    plis: () => plis,
    onKeyframeRequest: (fn) => listeners.push(fn),
    close: () => {
      closed = true
      unwatch()
      return pc.close()
    },
  }
}

/** A receiving connection. */
export interface Subscription {
  pc: RTCPeerConnection
  /**
   * The track each m-line carries now, one entry per m-line that ever carried one: when the SFU
   * puts a new track on an m-line, its entry is replaced by a fresh counter.
   */
  tracks: TrackCounter[]
  /** Total RTP packets received on the current tracks. */
  packets(): number
  /** Called for every received packet, with the publisher of its track. */
  onPacket(fn: PacketListener): void
  close(): Promise<void>
}

/** Options of {@link subscribe}. */
export interface SubscribeOptions {
  signal?: AbortSignal
  /** Connection attempts before giving up; each failure starts a fresh connection. @default 3 */
  attempts?: number
  /** Time one attempt may take to connect (including waiting for a join slot at the SFU). @default 20000 */
  attemptTimeoutMs?: number
}

/**
 * Subscribes to the room's media; resolves once connected (with the servers of the welcome,
 * as {@link publish}). A connection that fails or does not
 * come up in time is replaced by a new one (the SFU restarts its side on `subscribe`).
 */
export async function subscribe(
  sig: SignalingClient,
  init: PeerConfigInit = {},
  options: SubscribeOptions = {},
): Promise<Subscription> {
  const tracks: TrackCounter[] = []
  const listeners: PacketListener[] = []
  /** Stops counting for each m-line's current track (its receiver stays when a new track comes). */
  const stopCounting = new Map<string, () => void>()
  let pc!: RTCPeerConnection
  let chain = Promise.resolve()
  let negotiated: () => void = () => {}
  const onOffer = (sdp: string): void => {
    const target = pc
    chain = chain
      .then(async () => {
        if (target !== pc) return
        await target.setRemoteDescription({ type: 'offer', sdp })
        await target.setLocalDescription(await target.createAnswer())
        sig.send({ type: 'subscribe-answer', sdp: target.localDescription!.sdp })
        negotiated()
      })
      .catch(() => {})
  }
  sig.on('subscribe-offer', onOffer)
  const attempts = options.attempts ?? 3
  const connect = async (): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      pc = new RTCPeerConnection(clientPeerConfig(sig, init))
      tracks.length = 0
      for (const stop of stopCounting.values()) stop()
      stopCounting.clear()
      pc.ontrack = ({ track, streams, transceiver }) =>
        countTrack(track, transceiver.mid, streams[0]?.id, { tracks, listeners, stopCounting })
      const first = new Promise<void>((r) => {
        negotiated = r
      })
      const timeout = AbortSignal.timeout(options.attemptTimeoutMs ?? 20_000)
      const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout
      try {
        sig.send({ type: 'subscribe' })
        await Promise.race([
          first,
          new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))),
        ])
        await waitConnected(pc, signal)
        return
      } catch (err) {
        await pc.close().catch(() => {})
        if (options.signal?.aborted === true || attempt >= attempts) throw err
      }
    }
  }
  try {
    await connect()
  } catch (err) {
    sig.off('subscribe-offer', onOffer)
    throw err
  }
  let closed = false
  const unwatch = replaceOnFailure(
    () => pc,
    connect,
    () => closed,
    sig,
  )
  return {
    get pc() {
      return pc
    },
    tracks,
    packets: () => tracks.reduce((a, t) => a + t.packets, 0),
    onPacket: (fn) => listeners.push(fn),
    close: async () => {
      closed = true
      unwatch()
      sig.off('subscribe-offer', onOffer)
      await pc.close()
    },
  }
}
