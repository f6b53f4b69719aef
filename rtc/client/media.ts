/**
 * werift media on top of a {@link SignalingClient}: publish a camera-like pair of tracks, and
 * receive everything the SFU forwards. Used by lamps, tests and the benchmark.
 */
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpTransceiver } from 'werift'
import { RtcError } from '../errors.ts'
import { audioLevelExtId, type PeerConfigInit, peerConfig } from '../sfu/peer-config.ts'
import type { SignalingClient } from '../signaling/client.ts'

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

function waitConnected(pc: RTCPeerConnection, signal?: AbortSignal): Promise<void> {
  if (pc.connectionState === 'connected') return Promise.resolve()
  // an abort event that already fired will not fire again
  if (signal?.aborted === true) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        stop()
        resolve()
      } else if (s === 'failed' || s === 'closed') {
        stop()
        reject(new Error(`connection ${s}`))
      }
    })
    const onAbort = (): void => {
      stop()
      reject(signal?.reason)
    }
    const stop = (): void => {
      sub.unSubscribe()
      signal?.removeEventListener('abort', onAbort)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Resolves on the client's next `welcome` (it is back in the room); rejects when `signal` aborts. */
function welcomed(sig: SignalingClient, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const onWelcome = (): void => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }
    const onAbort = (): void => {
      sig.off('welcome', onWelcome)
      reject(signal.reason)
    }
    sig.once('welcome', onWelcome)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * The peer config of a connection made for `sig`: the STUN/TURN servers its server announced,
 * unless `init` names its own.
 */
function clientPeerConfig(sig: SignalingClient, init: PeerConfigInit): ReturnType<typeof peerConfig> {
  return peerConfig(init.iceServers === undefined ? { ...init, iceServers: sig.iceServers } : init)
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
  replaceOnFailure(
    () => pc,
    connect,
    () => closed,
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
      return pc.close()
    },
  }
}

/** Per-track receive counters. */
export interface TrackCounter {
  kind: string
  /** The m-line carrying the track. The SFU reuses an m-line for a later track of its kind. */
  mid: string | null
  /** The publisher, as the SFU names it in the m-line's msid; undefined if it names none. */
  user: string | undefined
  packets: number
  /** Highest extended sequence number seen. */
  maxSeq: number
  firstSeq: number
  /** Payload bytes received. */
  bytes: number
  /** Sender's SSRC as seen here. */
  ssrc: number
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

/** Called for every received packet. */
export type PacketListener = (kind: string, payload: Buffer, seq: number, user: string | undefined) => void

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
  replaceOnFailure(
    () => pc,
    connect,
    () => closed,
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
      sig.off('subscribe-offer', onOffer)
      await pc.close()
    },
  }
}

/**
 * Replaces a connection that fails later (network change, consent expired) by running
 * `connect` again, and watches the new one the same way; the SFU has already freed the
 * failed one's side.
 */
function replaceOnFailure(
  current: () => RTCPeerConnection,
  connect: () => Promise<void>,
  closed: () => boolean,
): void {
  const watch = (conn: RTCPeerConnection): void => {
    conn.connectionStateChange.subscribe((state) => {
      if (state !== 'failed' || closed() || conn !== current()) return
      conn.close().catch(() => {})
      connect().then(
        () => watch(current()),
        () => {},
      )
    })
  }
  watch(current())
}

/**
 * Counts the packets of `track`, the one the m-line `mid` now carries. An m-line the SFU reuses
 * fires "track" again with the same receiver track: its old counter stops, the new one takes its
 * place in `tracks`.
 */
function countTrack(
  track: MediaStreamTrack,
  mid: string | null,
  streamId: string | undefined,
  state: {
    tracks: TrackCounter[]
    listeners: PacketListener[]
    stopCounting: Map<string, () => void>
  },
): void {
  const { tracks, listeners, stopCounting } = state
  if (mid !== null) stopCounting.get(mid)?.()
  const user = decodeStreamId(streamId)
  const c: TrackCounter = {
    kind: track.kind,
    mid,
    user,
    packets: 0,
    maxSeq: -1,
    firstSeq: -1,
    bytes: 0,
    ssrc: track.ssrc ?? 0,
  }
  const i = mid === null ? -1 : tracks.findIndex((t) => t.mid === mid)
  if (i >= 0) tracks[i] = c
  else tracks.push(c)
  const { unSubscribe } = track.onReceiveRtp.subscribe((rtp) => {
    const seq = rtp.header.sequenceNumber
    if (c.maxSeq < 0) {
      c.firstSeq = seq
      c.maxSeq = seq
    } else {
      // extend the 16-bit sequence number across wrap-around
      const last = c.maxSeq & 0xffff
      const delta = ((seq - last + 0x8000) & 0xffff) - 0x8000
      if (delta > 0) c.maxSeq += delta
    }
    c.ssrc = rtp.header.ssrc
    c.packets++
    c.bytes += rtp.payload.length
    for (const fn of listeners) fn(track.kind, rtp.payload, seq, user)
  })
  if (mid !== null) stopCounting.set(mid, unSubscribe)
}

/** The SFU names a track's publisher as its msid stream id, URI-encoded (see `subscriber-hub.ts`). */
function decodeStreamId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined
  try {
    return decodeURIComponent(id)
  } catch {
    return id
  }
}
