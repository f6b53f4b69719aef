/**
 * The public shapes of a swarm: its counters, progress, the live components it uses and
 * its options. The implementation is `swarm.ts`.
 */
import type { Logger } from '@libp2p/interface'
import type { Limiter } from '../limiter/index.ts'
import type { ChunkStore } from '../store/index.ts'
import type { ChunkBuffers } from './chunk-buffers.ts'
import type { Hello } from './codec.ts'
import type { WebSeed } from './web-seed.ts'

/** Byte counters of a swarm. */
export interface SwarmStats {
  bytesFromPeers: number
  bytesFromOrigin: number
  bytesUploaded: number
  corruptChunks: number
  duplicateChunks: number
}

/** Progress of a download. */
export interface FetchProgress {
  manifestCid: string
  chunksDone: number
  chunksTotal: number
  bytesDone: number
  bytesTotal: number
  bytesFromPeers: number
  bytesFromOrigin: number
}

/** Live things a swarm uses. */
export interface SwarmComponents {
  store: ChunkStore
  limiter: Limiter
  log: Logger
  /** Who we are, as told in hellos (read at each hello: it may change, `locality.ts`). */
  self: Omit<Hello, 'manifest' | 'v' | 'wantManifest'>
  /**
   * Where a peer is, as this node believes (`locality.ts`: a trusted tracker's statement).
   * @default the campus and city its hello claims
   */
  placeOf?(peer: string, hello: Hello | undefined): { campus?: string; city?: string }
  /** Bans a peer (corrupt chunk) across all swarms. */
  ban(peer: string, reason: string): void
  webSeed?: WebSeed
  /** Node-wide counters, added to alongside the swarm's own. */
  totals: SwarmStats
  /**
   * Reusable shared-memory buffers to assemble received chunks in: worth it when the store
   * writes the bytes out (an on-disk store), not when it must keep a copy (the memory store,
   * which would copy them out of shared memory again).
   * @default a new, unshared buffer per chunk
   */
  chunkBuffers?: ChunkBuffers
}

/** Options of a swarm. */
export interface SwarmInit {
  superSeed?: boolean
  /** Peers kept; past it a newcomer replaces one `peer-cap.ts` lets go, or is not kept. @default MAX_PEERS_PER_SWARM */
  maxPeers?: number
  /** A peer holding requests that delivers nothing for this long is stalled. @default PEER_STALL_MS */
  peerStallMs?: number
  fallbackIdleMs?: number
}
