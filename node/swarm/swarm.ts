/**
 * One swarm per manifest (like a torrent): the sessions with peers that share it, what
 * each holds, what is in flight, and the scheduler that turns that into requests.
 * Every chunk is verified by the chunk store before it counts; a peer that sends a
 * corrupt one is banned and its requests go elsewhere.
 *
 * This file holds the swarm's state and its life cycle; the parts sit beside it:
 * `frame-router.ts` (what its sessions call), `peers.ts` (sessions and what they hold),
 * `scheduler.ts` (requests and the timer), `intake.ts` (the receive path), `server.ts`
 * (the upload side), `download.ts` (completion and failure) and `origin-fallback.ts`.
 */
import type { CID } from 'multiformats/cid'
import type { Manifest } from '../content/index.ts'
import { MAX_PEERS_PER_SWARM, PEER_STALL_MS, SWARM_WIRE_VERSION } from '../node-constants.ts'
import { Bitfield } from './bitfield.ts'
import type { ChunkBuffers } from './chunk-buffers.ts'
import { ChunkWaiters } from './chunk-waiters.ts'
import type { Hello } from './codec.ts'
import { SwarmDownload } from './download.ts'
import { ProtocolError } from './errors.ts'
import { FrameRouter } from './frame-router.ts'
import { ChunkIntake } from './intake.ts'
import { OriginFallback } from './origin-fallback.ts'
import { SwarmPeers } from './peers.ts'
import { RequestScheduler } from './scheduler.ts'
import { ChunkServer } from './server.ts'
import type { PeerSession } from './session.ts'
import type { FetchProgress, SwarmComponents, SwarmInit, SwarmStats } from './swarm-types.ts'

/** The state and scheduler of one manifest's swarm. */
export class Swarm {
  readonly cid: CID
  readonly key: string
  manifest?: Manifest
  have?: Bitfield
  availability = new Uint16Array(0)
  readonly sessions = new Map<string, PeerSession>()
  readonly stats: SwarmStats = {
    bytesFromPeers: 0,
    bytesFromOrigin: 0,
    bytesUploaded: 0,
    corruptChunks: 0,
    duplicateChunks: 0,
  }
  /**
   * Why downloading stopped, if it did: the store refused a verified chunk, or the content
   * is larger than the node's whole quota. Cleared when asked again (`want`, or a reader
   * waiting for a chunk).
   */
  failure?: Error
  /** Reads (playback) in progress: content being played is not evicted. */
  openReads = 0
  /** Set by the network: reach out to peers for this swarm. */
  onSeek?: () => void
  private sought = false
  /** Resolves with the manifest once it is set (from the store, a peer or the origin). */
  readonly manifestReady: PromiseWithResolvers<Manifest> = Promise.withResolvers<Manifest>()
  onProgress?: (p: FetchProgress) => void
  /** Called with the manifest bytes a peer sent when we asked. */
  onManifestBytes?: (bytes: Uint8Array, from: PeerSession) => void
  /** When a peer last delivered a chunk we lacked (the origin fallback waits for peers to go quiet). */
  lastPeerProgressAt = performance.now()
  private readonly c: SwarmComponents
  private readonly init: SwarmInit
  private readonly buffers?: ChunkBuffers
  /** Playback readers blocked on chunks. */
  private readonly readers = new ChunkWaiters()
  private readonly peers: SwarmPeers
  private readonly scheduler: RequestScheduler
  private readonly intake: ChunkIntake
  private readonly origin: OriginFallback
  private readonly server: ChunkServer
  private readonly download: SwarmDownload
  /** What the swarm's sessions call: their owner. */
  readonly router: FrameRouter
  private readonly abort = new AbortController()
  stopped = false
  /**
   * Whether to replicate every chunk (set by `fetch`). A swarm joined only by a playback
   * reader streams: it fetches what readers wait for, plus look-ahead, and nothing else.
   */
  replicate = false

  /**
   * Settles when every chunk is stored; rejects when the swarm stops or downloading fails
   * ({@link failure}). After a failure a new one stands for the next attempt.
   */
  get done(): PromiseWithResolvers<void> {
    return this.download.done
  }

  constructor(cid: CID, components: SwarmComponents, init: SwarmInit = {}) {
    this.cid = cid
    this.key = cid.toString()
    this.c = components
    this.init = init
    this.buffers = components.chunkBuffers
    // what the parts share: the swarm, its counters and readers, and where each missing
    // chunk is (requested from how many peers, from the origin, or received and being verified)
    const shared = {
      ...components,
      swarm: this,
      stats: this.stats,
      readers: this.readers,
      inflight: new Map<number, number>(),
      originInflight: new Set<number>(),
      verifying: new Set<number>(),
    }
    const scheduler = new RequestScheduler(shared)
    this.scheduler = scheduler
    this.server = new ChunkServer(shared, init)
    const signal = this.abort.signal
    this.download = new SwarmDownload({ ...shared, scheduler, server: this.server, signal })
    this.peers = new SwarmPeers({ ...shared, scheduler, server: this.server })
    this.intake = new ChunkIntake({ ...shared, scheduler, download: this.download })
    this.origin = new OriginFallback({ ...shared, scheduler, intake: this.intake, signal }, init)
    this.router = new FrameRouter({ ...shared, peers: this.peers, intake: this.intake, server: this.server })
    this.manifestReady.promise.catch(() => {})
    scheduler.startTicking()
  }

  /** Our hello for this swarm. */
  hello(): Hello {
    return {
      v: SWARM_WIRE_VERSION,
      manifest: this.key,
      ...this.c.self,
      wantManifest: this.manifest === undefined,
    }
  }

  get complete(): boolean {
    return this.have?.complete === true
  }

  /** Whether it reaches out to peers: something here wants chunks (or the manifest) it lacks. */
  get seeking(): boolean {
    return this.sought && !this.complete && !this.stopped
  }

  /**
   * Whether it downloads for someone now: a fetch or a reader. A swarm only streamed once
   * and left partly held is not, nor one whose manifest is still looked up (capped on their
   * own, `MAX_MANIFEST_LOOKUPS`): neither counts against the node's limit on downloads at once.
   */
  get busy(): boolean {
    return this.seeking && (this.replicate || this.openReads > 0 || this.readers.size > 0)
  }

  /**
   * Something wants what this swarm lacks (a fetch, a reader, the manifest): the first call
   * reaches out to peers; peers connecting later are reached as they come.
   */
  seek(): void {
    if (this.sought || this.complete || this.stopped) return
    this.sought = true
    this.onSeek?.()
  }

  /** Sets the verified manifest, marks what the store already holds (resume) and starts scheduling. */
  async setManifest(manifest: Manifest): Promise<void> {
    if (this.manifest !== undefined) return
    const have = new Bitfield(manifest.chunks.length)
    for (let i = 0; i < manifest.chunks.length; i++)
      if (await this.c.store.has(manifest.chunks[i])) have.set(i)
    if (this.manifest !== undefined || this.stopped) return
    this.manifest = manifest
    this.manifestReady.resolve(manifest)
    this.have = have
    this.availability = new Uint16Array(manifest.chunks.length)
    this.server.start()
    for (const s of this.sessions.values()) this.peers.greet(s)
    this.lastPeerProgressAt = performance.now()
    if (have.complete) this.download.settle()
    // chunks to receive: have the store's own receive buffers ready before the first arrives
    else this.buffers?.prepare(manifest.chunkSize)
    this.scheduler.schedule()
  }

  /** Adds a session whose hello checked out; resolves duplicate streams between the same two peers. */
  addSession(session: PeerSession, local: string): boolean {
    return this.peers.add(session, local)
  }

  /** Starts replicating every chunk (what `fetch` asks for). */
  want(): void {
    this.download.want()
  }

  /** Waits until chunk `index` is stored, asking for it (and the next few) before anything else. */
  waitForChunk(index: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    return this.download.waitForChunk(index, options)
  }

  /**
   * Resolves once the puts under way have settled. After {@link stop} no more begin, so
   * whoever deletes the content (an eviction) finds every chunk they stored.
   */
  putsSettled(): Promise<void> {
    return this.intake.settled()
  }

  /**
   * A chunk no longer in the store (deleted under this swarm): marked missing, so a reader
   * asking for it waits for it to be fetched again.
   */
  lost(index: number): void {
    this.download.lost(index)
  }

  /** Progress now. */
  progress(): FetchProgress {
    const m = this.manifest
    const total = m?.chunks.length ?? 0
    const done = this.have?.cardinality ?? 0
    let bytesDone = 0
    if (m !== undefined && this.have !== undefined) {
      bytesDone = done * m.chunkSize
      if (this.have.has(total - 1)) bytesDone -= m.chunkSize - this.chunkLength(total - 1)
    }
    return {
      manifestCid: this.key,
      chunksDone: done,
      chunksTotal: total,
      bytesDone,
      bytesTotal: m?.size ?? 0,
      bytesFromPeers: this.stats.bytesFromPeers,
      bytesFromOrigin: this.stats.bytesFromOrigin,
    }
  }

  stop(): void {
    if (this.stopped) return
    this.stopped = true
    this.scheduler.stopTicking()
    this.abort.abort(new ProtocolError('swarm stopped'))
    this.scheduler.stop(this.abort.signal.reason)
    for (const s of [...this.sessions.values()]) s.close()
    this.done.reject(this.abort.signal.reason)
    this.manifestReady.reject(this.abort.signal.reason)
  }

  /**
   * The download cannot go on (the store refused a chunk, or the content is larger than
   * the node's whole quota): stop it and fail the fetch and waiting readers with `err`,
   * which status reports. The next fetch or read tries again.
   */
  refuse(err: Error): void {
    this.download.refuse(err)
  }

  /** Bytes in chunk `index` (the last one may be short); the manifest must be known. */
  chunkLength(index: number): number {
    const m = this.manifest!
    return index === m.chunks.length - 1 ? m.size - index * m.chunkSize : m.chunkSize
  }

  /** How long a peer holding requests may deliver nothing before it is stalled. */
  get stallMs(): number {
    return this.init.peerStallMs ?? PEER_STALL_MS
  }

  /** Peers this swarm keeps at most. */
  get maxPeers(): number {
    return this.init.maxPeers ?? MAX_PEERS_PER_SWARM
  }

  /**
   * Whether a session with one more peer would be kept: below the cap, or a peer in it
   * could be replaced (`peer-cap.ts`).
   */
  wantsPeer(): boolean {
    return this.peers.wanted()
  }

  /** One tick of the scheduler's timer: rates, stalled peers, super-seeding offers, the origin. */
  tick(): void {
    if (this.stopped || this.have === undefined) return
    // a super-seeder holding everything ticks only to offer chunks to its peers: with none,
    // it stops until one comes (`SwarmPeers.add`). An origin seeds every version it ever
    // took in, and a timer each, every 500 ms, grew its idle CPU with its catalogue
    if (this.complete && this.sessions.size === 0) {
      this.scheduler.stopTicking()
      return
    }
    const now = performance.now()
    for (const s of this.sessions.values()) s.updateRate(now)
    this.scheduler.stalls(now)
    this.server.superSeeder?.offerAll()
    this.origin.fallBack(now)
    this.scheduler.schedule()
  }
}
