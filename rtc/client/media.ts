/**
 * werift media on top of a {@link SignalingClient}: publish a camera-like pair of tracks, and
 * receive everything the SFU forwards. Used by lamps, tests and the benchmark.
 */
import { MediaStreamTrack, RTCPeerConnection, type RTCRtpTransceiver } from 'werift'
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
  return new Promise((resolve, reject) => {
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === 'connected') {
        sub.unSubscribe()
        resolve()
      } else if (s === 'failed' || s === 'closed') {
        sub.unSubscribe()
        reject(new Error(`connection ${s}`))
      }
    })
    signal?.addEventListener('abort', () => {
      sub.unSubscribe()
      reject(signal.reason)
    })
  })
}

/** Publishes an audio and a video track through the SFU; resolves once connected. */
export async function publish(
  sig: SignalingClient,
  init: PeerConfigInit = {},
  options: { signal?: AbortSignal } = {},
): Promise<Publication> {
  const pc = new RTCPeerConnection(peerConfig(init))
  const video = new MediaStreamTrack({ kind: 'video' })
  const audio = new MediaStreamTrack({ kind: 'audio' })
  const vt: RTCRtpTransceiver = pc.addTransceiver(video, { direction: 'sendonly' })
  pc.addTransceiver(audio, { direction: 'sendonly' })
  let plis = 0
  const listeners: Array<() => void> = []
  vt.sender.onPictureLossIndication.subscribe(() => {
    plis++
    for (const fn of listeners) fn()
  })
  await pc.setLocalDescription(await pc.createOffer())
  const answer = sig.next('publish-answer')
  sig.send({ type: 'publish', sdp: pc.localDescription!.sdp })
  await pc.setRemoteDescription({ type: 'answer', sdp: (await answer).sdp })
  await waitConnected(pc, options.signal)
  return {
    pc,
    video,
    audio,
    audioLevelExtId: audioLevelExtId(pc.localDescription!.sdp),
    plis: () => plis,
    onKeyframeRequest: (fn) => listeners.push(fn),
    close: () => pc.close(),
  }
}

/** Per-track receive counters. */
export interface TrackCounter {
  kind: string
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
  tracks: TrackCounter[]
  /** Total RTP packets received on all tracks. */
  packets(): number
  /** Called for every received packet. */
  onPacket(fn: (kind: string, payload: Buffer, seq: number) => void): void
  close(): Promise<void>
}

/** Subscribes to the room's media; resolves once the first negotiation is done. */
export async function subscribe(
  sig: SignalingClient,
  init: PeerConfigInit = {},
  options: { signal?: AbortSignal } = {},
): Promise<Subscription> {
  const pc = new RTCPeerConnection(peerConfig(init))
  const tracks: TrackCounter[] = []
  const listeners: Array<(kind: string, payload: Buffer, seq: number) => void> = []
  pc.ontrack = ({ track }) => {
    const c: TrackCounter = {
      kind: track.kind,
      packets: 0,
      maxSeq: -1,
      firstSeq: -1,
      bytes: 0,
      ssrc: track.ssrc ?? 0,
    }
    tracks.push(c)
    track.onReceiveRtp.subscribe((rtp) => {
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
      for (const fn of listeners) fn(track.kind, rtp.payload, seq)
    })
  }
  let chain = Promise.resolve()
  let first: () => void = () => {}
  const negotiated = new Promise<void>((r) => {
    first = r
  })
  sig.on('subscribe-offer', (sdp) => {
    chain = chain
      .then(async () => {
        await pc.setRemoteDescription({ type: 'offer', sdp })
        await pc.setLocalDescription(await pc.createAnswer())
        sig.send({ type: 'subscribe-answer', sdp: pc.localDescription!.sdp })
        first()
      })
      .catch(() => {})
  })
  sig.send({ type: 'subscribe' })
  await negotiated
  await waitConnected(pc, options.signal)
  return {
    pc,
    tracks,
    packets: () => tracks.reduce((a, t) => a + t.packets, 0),
    onPacket: (fn) => listeners.push(fn),
    close: () => pc.close(),
  }
}
