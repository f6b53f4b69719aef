/**
 * Receive counters of a subscription: one per m-line, replaced when the SFU puts a new track on
 * that m-line, naming the publisher the SFU put in the m-line's msid.
 */
import type { MediaStreamTrack } from 'werift'

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

/** Called for every received packet. */
export type PacketListener = (kind: string, payload: Buffer, seq: number, user: string | undefined) => void

/**
 * Counts the packets of `track`, the one the m-line `mid` now carries. An m-line the SFU reuses
 * fires "track" again with the same receiver track: its old counter stops, the new one takes its
 * place in `tracks`.
 */
export function countTrack(
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

/** The SFU names a track's publisher as its msid stream id, URI-encoded (see `sfu/subscriber-lines.ts`). */
function decodeStreamId(id: string | undefined): string | undefined {
  if (id === undefined) return undefined
  try {
    return decodeURIComponent(id)
  } catch {
    return id
  }
}
