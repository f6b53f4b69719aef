/**
 * The Dandelion node library (`dandelion/node`): a libp2p host that replicates verified
 * chunks peer to peer, per manifest, with an origin fallback, bandwidth limits, a name
 * table and an optional local playback server. Campus nodes, lamp devices (`role:
 * 'device'`) and the origin's seeder are all this one library.
 *
 * ```ts
 * const node = await createNode({ dataDir: './data', campus: 'north', originUrl })
 * await node.start()
 * const manifest = await node.fetch(manifestCid, { onProgress: (p) => console.log(p) })
 * ```
 */

import type { Libp2p, PeerId, PrivateKey, PublicKey } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import type { Manifest } from './content/index.ts'
import type { HostServices } from './host/index.ts'
import type { Limits } from './limiter/index.ts'
import type { OriginScheduleStatus } from './limiter/schedule.ts'
import type { SignedMembership } from './membership.ts'
import type { NameTable } from './names.ts'
import { DandelionNodeImpl } from './node.ts'
import type { ScrubStatus } from './scrub.ts'
import type { ChunkStore, StoreUsage } from './store/index.ts'
import type { FetchProgress, SwarmStats } from './swarm/swarm-types.ts'
import type { WebSeedStatus } from './swarm/web-seed.ts'

export type { Limits } from './limiter/index.ts'
export type { OriginScheduleStatus } from './limiter/schedule.ts'
export type { Membership, SignedMembership } from './membership.ts'
export type { NameEntry, NameTable } from './names.ts'
export type { ScrubStatus } from './scrub.ts'
export type { FetchProgress, SwarmStats } from './swarm/swarm-types.ts'
export type { WebSeedStatus } from './swarm/web-seed.ts'

/** What a node is. */
export type NodeRole = 'campus' | 'device' | 'origin'

/** Options of {@link createNode}. Every field is optional. */
export interface DandelionNodeInit {
  /** @default 'campus' */
  role?: NodeRole
  /** Campus this node belongs to (peers on the same campus are preferred). */
  campus?: string
  /** City this node belongs to (preferred next). */
  city?: string
  /**
   * Trackers whose signed statements of a peer's campus and city are believed; once one is
   * (here, or by {@link DandelionNode.setMembership}), a peer's unproven claim no longer
   * ranks it nearer (`swarm/locality.ts`). @default none: peers' claims are believed
   */
  trustedTrackers?: string[]
  /** libp2p identity. @default a new ed25519 key */
  privateKey?: PrivateKey
  /**
   * Directory for the chunk store (`store/`), the name table (`names/`) and the
   * WebRTC-Direct certificate (`webrtc-certificate.pem`: the same `/certhash/` address at
   * every start). Without it, and without `store`, everything is in memory (and the
   * certificate new at each start).
   */
  dataDir?: string
  /**
   * Where warnings an operator must see go: a WebRTC-Direct certificate in the data
   * directory that could not be used and was replaced (the node's address changed).
   * @default logged at error level (`DEBUG=dandelion*`)
   */
  onWarning?: (message: string) => void
  /** A chunk store to use (the origin's seeder shares the origin's). Not started or stopped by the node. */
  store?: ChunkStore
  /**
   * Byte quota of the node's own store: when it is full the node evicts unpinned content,
   * least recently fetched or played first, whole manifests at a time. @default Infinity (device: 2 GiB)
   */
  quotaBytes?: number
  /**
   * Bytes to keep free on the disk of the node's on-disk store (`dataDir`): past it the node
   * evicts unpinned content as at its quota, and refuses what it cannot make room for.
   * @default no floor (the daemon's: 1 GiB)
   */
  minFreeDiskBytes?: number
  /** Free bytes on the store's disk (a test simulates a full disk). @default statfs of the store's directory */
  freeDiskBytes?: () => number
  /** libp2p listen addresses. @default ['/ip4/127.0.0.1/tcp/0'] */
  listen?: string[]
  /** Peers to connect to at start and keep connected (multiaddrs ending in `/p2p/<id>`). */
  bootstrap?: string[]
  /** Origin base URL for the HTTP fallback and manifests. */
  originUrl?: string
  /** Only manifests signed by these keys are fetched. @default any valid signature */
  trustedOrigins?: PublicKey[]
  /** Bandwidth limits (bytes/s). @default unlimited (device: 1 MiB/s upload) */
  limits?: Partial<Limits>
  /**
   * Time-of-day windows for the origin (WAN) rate, each `[DAYS ]HH:MM-HH:MM=RATE|none`
   * (`limiter/schedule.ts`); outside every window `limits.originBytesPerSecond` applies.
   * @default none
   * @throws InvalidConfigError from `createNode` for a window that does not parse
   */
  originLimitSchedule?: string[]
  /** Worker threads that verify received chunks off the event loop (own store only); 0 hashes inline. @default 0 */
  hashWorkers?: number
  /**
   * Write received chunks to the node's own on-disk store with direct I/O (no copy into
   * the page cache; file systems without it, such as tmpfs, write through the cache).
   * @default true
   */
  directIo?: boolean
  /** Run the DHT. @default true */
  dht?: boolean
  /**
   * Discover peers on the LAN with mDNS (service `_dandelion._udp.local`) and connect to
   * them. A device only looks: campus nodes answer, devices do not. @default false
   */
  mdns?: boolean
  /** Add the WebRTC-Direct transport. @default false */
  webrtc?: boolean
  /** Super-seed (offer each chunk to one peer at a time). @default true for role 'origin' */
  superSeed?: boolean
  /** Idle time before the origin fallback kicks in. @default 3000 */
  fallbackIdleMs?: number
  /**
   * Peers kept per swarm. Past it, a peer that connects replaces one scored below zero
   * (stalled, refused requests, lied about what it holds) or, while downloading, one
   * delivering under a tenth of the fastest (never the origin or the only holder of a
   * missing chunk); else it is not kept. @default 40
   */
  maxPeersPerSwarm?: number
  /**
   * A peer holding this node's requests that delivers nothing for this long is stalled:
   * its requests are cancelled and asked of others, it scores down and is asked nothing
   * for as long again. @default 15000
   */
  peerStallMs?: number
  /** Backoff after a failed origin request, doubling per failure in a row. @default 500 ms up to 30 s */
  originBackoff?: { initialMs: number; maxMs: number }
  /** Local playback server; `false` for none. @default none */
  playback?: { host?: string; port?: number; apiToken?: string } | false
  /**
   * Scrubbing of an on-disk store (`scrub.ts`): every chunk read back and hashed, a corrupt
   * one dropped and fetched again. `false`: never. `file`: where the schedule is kept; set, it
   * makes a node scrub a store it was given too (the origin's seeder). @default every 7 days,
   * at most 8 MiB/s, for a node with a `dataDir` and its own store (`<dataDir>/scrub.json`)
   */
  scrub?:
    | {
        intervalMs?: number
        bytesPerSecond?: number
        file?: string
        /** Told of each corrupt chunk a pass finds (its CID). */
        onCorrupt?: (chunk: string) => void
      }
    | false
}

/** Options of {@link DandelionNode.fetch}. */
export interface FetchOptions {
  signal?: AbortSignal
  /** Called as chunks arrive. */
  onProgress?: (progress: FetchProgress) => void
  /**
   * Called once the download is recorded in the store, before its manifest is looked up:
   * from then on the node carries it on by itself after a stop or a crash. Called at once
   * for content already complete.
   */
  onRecorded?: () => void
}

/** One swarm as reported by {@link DandelionNode.status}. */
export interface SwarmStatus extends FetchProgress, SwarmStats {
  name?: string
  complete: boolean
  /** Why downloading stopped, when it did (the store refused a chunk); the next fetch tries again. */
  error?: string
  /**
   * `campus` and `city` as this node believes them (`proven`: a trusted tracker's statement
   * says so; else the peer's claim, shown only while no tracker is trusted).
   */
  peers: Array<{
    peer: string
    campus?: string
    city?: string
    proven: boolean
    role?: string
    score: number
  }>
}

/** What {@link DandelionNode.status} reports. */
export interface NodeStatus {
  peerId: string
  role: NodeRole
  /** Its tracker's statement's while it holds one, else its settings'. */
  campus?: string
  city?: string
  /** Its tracker's statement of its campus and city, shown in its swarm hellos. */
  membership?: { tracker: string; nodeId: string; expiresAt: number }
  multiaddrs: string[]
  connections: number
  /** Peers banned right now (a corrupt chunk, repeated protocol violations): not connected to for 10 minutes. */
  bannedPeers: number
  swarms: SwarmStatus[]
  totals: SwarmStats
  limits: Limits
  store: StoreUsage
  /** The origin fallback, when an origin is configured: its health as this node sees it. */
  origin?: WebSeedStatus
  playbackUrl?: string
  /** Scrubbing of the on-disk store, when the node scrubs (see {@link DandelionNodeInit.scrub}). */
  scrub?: ScrubStatus
  /** The origin rate's schedule, when it has one (see {@link DandelionNodeInit.originLimitSchedule}). */
  originSchedule?: OriginScheduleStatus
}

/** A running (or startable) Dandelion node. */
export interface DandelionNode {
  readonly peerId: PeerId
  readonly libp2p: Libp2p<HostServices>
  /** Resource name → active manifest CID. */
  readonly names: NameTable
  readonly store: ChunkStore
  /** Listen addresses, once started. */
  readonly multiaddrs: Multiaddr[]
  /** Base URL of the playback server, when one runs. */
  readonly playbackUrl?: string
  start(): Promise<void>
  stop(): Promise<void>
  /**
   * Places content on this node: gets and verifies the manifest (from the store, peers
   * or the origin), then every chunk (from peers, falling back to the origin), verified
   * before it is stored. Resolves once all chunks are stored; resumes from what the
   * store already holds.
   */
  fetch(manifestCid: CID | string, options?: FetchOptions): Promise<Manifest>
  /** Pins a manifest and its chunks so they are never evicted. */
  pin(manifestCid: CID | string, options?: { signal?: AbortSignal }): Promise<void>
  unpin(manifestCid: CID | string, options?: { signal?: AbortSignal }): Promise<void>
  /** Leaves the swarm and deletes the manifest's unpinned chunks. */
  evict(manifestCid: CID | string, options?: { signal?: AbortSignal }): Promise<void>
  /** Announces and serves content whose chunks are already in the store. */
  seed(manifest: Manifest, options?: { signal?: AbortSignal }): Promise<void>
  /**
   * Stops serving content: leaves its swarm (its peers' sessions end) and forgets the
   * manifest. Its chunks stay in the store, for their owner to delete (the origin removing
   * a version keeps the chunks other versions share).
   */
  unseed(manifestCid: CID | string): void
  /** A manifest this node knows, or can get (verified). */
  manifest(manifestCid: CID | string, options?: { signal?: AbortSignal }): Promise<Manifest>
  /** Bytes `start..end` (inclusive) of the content, fetching missing chunks first, with priority. */
  read(
    manifestCid: CID | string,
    start: number,
    end: number,
    options?: { signal?: AbortSignal },
  ): AsyncGenerator<Uint8Array>
  /** Changes bandwidth limits at runtime. */
  setLimits(limits: Partial<Limits>): void
  /**
   * Takes the tracker's signed statement of this node's campus and city (its agent's
   * `membership` event): shown in every swarm hello from now on, kept in the data directory
   * for the next start, and its tracker trusted for peers' statements. False if it is not a
   * valid statement about this node.
   */
  setMembership(signed: SignedMembership, options?: { signal?: AbortSignal }): Promise<boolean>
  /** Believes statements of peers' places signed by this tracker from now on. */
  trustTracker(trackerId: string): void
  status(): NodeStatus
  /**
   * Runs a scrub pass now (or joins the one under way) and resolves with what it found.
   * @throws ScrubUnavailableError when the node does not scrub (no on-disk store of its own, or `scrub: false`)
   */
  scrub(): Promise<ScrubStatus>
}

/** Creates a node (call `start()` next). */
export async function createNode(init: DandelionNodeInit = {}): Promise<DandelionNode> {
  return await DandelionNodeImpl.create(init)
}
