/** Public types of the receive side of the SFU (`subscriber-hub.ts`), shared with the shards. */
import type { Logger } from '@libp2p/logger'
import type { ForwardMode } from './forwarder.ts'
import type { PeerConfigInit } from './peer-config.ts'

/** Callbacks of a `SubscriberHub`. */
export interface SubscriberHubComponents {
  /** An SDP offer for `user` to answer. */
  offer(room: string, user: string, sdp: string): void
  /** Some subscriber needs a keyframe of `trackId` (joined, or sent a PLI). */
  keyframe(trackId: string): void
  logger?: Logger
}

/** Options of a `SubscriberHub`. */
export interface SubscriberHubInit extends PeerConfigInit {
  /** @default 'fast' */
  mode?: ForwardMode
  /**
   * Subscriber connections being set up at once; later ones wait for a slot. Hundreds of
   * simultaneous ICE + DTLS handshakes starve each other into timeouts, a bounded window
   * finishes them all sooner. @default `MAX_CONCURRENT_JOINS` (`constants.ts`)
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
