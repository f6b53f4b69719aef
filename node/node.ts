/** The implementation behind `createNode` (see `index.ts` for the public contract). */

import { join } from 'node:path'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { BootstrapDialer } from './bootstrap-dialer.ts'
import { DAG_CBOR_CODEC } from './constants.ts'
import { type HashPool, type Manifest, parseCid, verifyManifest } from './content/index.ts'
import { Downloads } from './downloads.ts'
import { ContentEviction } from './eviction.ts'
import { FetchFailures } from './fetch-failures.ts'
import { createHost, type HostServices } from './host/index.ts'
import { LanDialer } from './host/lan-dialer.ts'
import type { DandelionNode, DandelionNodeInit, FetchOptions, NodeStatus } from './index.ts'
import { Limiter, type Limits } from './limiter/index.ts'
import { ManifestLoader } from './manifest-loader.ts'
import type { SignedMembership } from './membership.ts'
import { keepMembership, membershipStatus, restoreMembership } from './membership-file.ts'
import { LevelNameTable, MemoryNameTable, type NameTable } from './names.ts'
import { DEVICE_UPLOAD_BYTES_PER_SECOND } from './node-constants.ts'
import { nodeStorage } from './node-storage.ts'
import type { PlaybackServer } from './playback/server.ts'
import { RangeReader } from './range-reader.ts'
import { Recency } from './recency.ts'
import { type ChunkStore, FsChunkStore } from './store/index.ts'
import { Bans } from './swarm/bans.ts'
import type { ChunkBuffers } from './swarm/chunk-buffers.ts'
import { Locality } from './swarm/locality.ts'
import { SwarmNetwork } from './swarm/network.ts'
import type { Swarm } from './swarm/swarm.ts'
import type { SwarmStats } from './swarm/swarm-types.ts'
import { WebSeed } from './swarm/web-seed.ts'
import { SwarmJoiner } from './swarm-joiner.ts'

const toCid = (c: CID | string): CID => (typeof c === 'string' ? parseCid(c, 'manifest') : c)

/** See {@link DandelionNode}. */
export class DandelionNodeImpl implements DandelionNode {
  readonly libp2p: Libp2p<HostServices>
  readonly names: NameTable
  readonly store: ChunkStore
  readonly totals: SwarmStats = {
    bytesFromPeers: 0,
    bytesFromOrigin: 0,
    bytesUploaded: 0,
    corruptChunks: 0,
    duplicateChunks: 0,
  }
  private readonly init: DandelionNodeInit
  private readonly ownsStore: boolean
  private readonly limiter: Limiter
  private readonly network: SwarmNetwork
  private readonly webSeed?: WebSeed
  private readonly log = logger('dandelion:node')
  private readonly manifests: ManifestLoader
  private playback?: PlaybackServer
  private readonly pool?: HashPool
  /** Shared-memory buffers received chunks are assembled in (on-disk stores only), for every swarm. */
  private readonly chunkBuffers?: ChunkBuffers
  /** Keeps the bootstrap peers connected. */
  private readonly bootstrap: BootstrapDialer
  /** Set by {@link stop}: the lookups it ends are not downloads to forget. */
  private stopping = false
  /** Dials the peers mDNS finds (when `mdns` is on). */
  private readonly lan?: LanDialer
  /** Peers banned by any swarm, refused by the host's connection gater too. */
  private readonly bans: Bans
  /** When each manifest was last fetched or played, across restarts (what `makeRoom` evicts by). */
  private readonly recency: Recency
  /** A device's cache: eviction to make room, downloads given up for lack of it, deletion. */
  private readonly eviction: ContentEviction
  /** Fetches that failed before their download began (an untrusted manifest), for `status()`. */
  private readonly fetchFailures = new FetchFailures()
  /** Where this node and its peers are (`swarm/locality.ts`). */
  private readonly locality: Locality
  /** The swarms this node is in, joined on first use. */
  private readonly joiner: SwarmJoiner
  /** Downloads recorded in the store until done, resumed at start. */
  private readonly downloads: Downloads
  /** Reads content for players. */
  private readonly reader: RangeReader

  static async create(init: DandelionNodeInit): Promise<DandelionNodeImpl> {
    const device = init.role === 'device'
    const lan = init.mdns === true ? new LanDialer({ logger: logger('dandelion:node:lan') }) : undefined
    const bans = new Bans()
    const libp2p = await createHost({
      privateKey: init.privateKey,
      listen: init.listen,
      dht: init.dht,
      dhtClientMode: device,
      mdns: init.mdns,
      // a device looks for campus nodes on the LAN and is found by none: lamps do not mesh
      mdnsAnswer: !device,
      onLanPeer: lan === undefined ? undefined : (peer) => lan.found(peer),
      webrtc: init.webrtc,
      dataDir: init.dataDir,
      onWarning: init.onWarning,
      isBanned: (peer) => bans.has(peer.toString()),
    })
    return new DandelionNodeImpl(init, libp2p, bans, lan)
  }

  private constructor(init: DandelionNodeInit, libp2p: Libp2p<HostServices>, bans: Bans, lan?: LanDialer) {
    this.init = { ...init }
    this.libp2p = libp2p
    this.lan = lan
    const device = init.role === 'device'
    const storage = nodeStorage(
      init,
      async (shortBy, options, chunk) => await this.eviction.makeRoom(shortBy, options, chunk),
    )
    this.store = storage.store
    this.ownsStore = storage.ownsStore
    this.pool = storage.pool
    this.chunkBuffers = storage.chunkBuffers
    this.names =
      init.dataDir === undefined ? new MemoryNameTable() : new LevelNameTable(join(init.dataDir, 'names'))
    this.recency = new Recency({
      path: init.dataDir === undefined ? undefined : join(init.dataDir, 'recency.json'),
    })
    this.limiter = new Limiter({
      uploadBytesPerSecond: device ? DEVICE_UPLOAD_BYTES_PER_SECOND : undefined,
      ...init.limits,
    })
    if (init.originUrl !== undefined) {
      this.webSeed = new WebSeed({
        url: init.originUrl,
        buckets: [this.limiter.origin, this.limiter.download],
        backoff: init.originBackoff,
      })
    }
    this.bans = bans
    this.locality = new Locality({
      peerId: libp2p.peerId.toString(),
      role: init.role ?? 'campus',
      campus: init.campus,
      city: init.city,
      trustedTrackers: init.trustedTrackers,
    })
    this.network = new SwarmNetwork(libp2p, this.log, { dht: libp2p.services.dht, bans })
    this.bootstrap = new BootstrapDialer({ libp2p, log: this.log }, { bootstrap: init.bootstrap })
    this.joiner = new SwarmJoiner(
      {
        store: this.store,
        limiter: this.limiter,
        network: this.network,
        locality: this.locality,
        webSeed: this.webSeed,
        totals: this.totals,
        chunkBuffers: this.chunkBuffers,
        verify: async (cid, bytes) => await this.verify(cid, bytes),
        log: this.log,
      },
      init,
    )
    this.manifests = new ManifestLoader({
      store: this.store,
      webSeed: this.webSeed,
      log: this.log,
      verify: async (cid, bytes) => await this.verify(cid, bytes),
      fromPeers: (cid) => {
        const swarm = this.swarm(cid)
        swarm.seek()
        return swarm.manifestReady.promise
      },
      abandoned: (cid) => {
        // a lookup nobody waits for any more leaves no swarm behind, unless something else uses it
        const swarm = this.network.swarms.get(cid.toString())
        if (swarm !== undefined && swarm.manifest === undefined && !swarm.replicate && swarm.openReads === 0)
          this.network.leave(swarm.key)
      },
    })
    // fetches in progress by manifest CID: counted by the downloads, spared by the eviction
    const fetching = new Map<string, number>()
    this.eviction = new ContentEviction({
      store: this.store,
      network: this.network,
      manifests: this.manifests,
      recency: this.recency,
      log: this.log,
      verify: async (cid, bytes) => await this.verify(cid, bytes),
      fetching,
      stopping: () => this.stopping,
      diskFloor: this.store instanceof FsChunkStore ? this.store.diskFloor : undefined,
    })
    this.downloads = new Downloads({
      store: this.store,
      manifests: this.manifests,
      recency: this.recency,
      roomless: this.eviction.roomless,
      fetchFailures: this.fetchFailures,
      fetching,
      swarm: (cid) => this.swarm(cid),
      stopping: () => this.stopping,
      log: this.log,
    })
    this.reader = new RangeReader({
      store: this.store,
      manifests: this.manifests,
      swarm: (cid) => this.swarm(cid),
      recency: this.recency,
      log: this.log,
    })
  }

  get peerId(): PeerId {
    return this.libp2p.peerId
  }

  get multiaddrs() {
    return this.libp2p.getMultiaddrs()
  }

  get playbackUrl(): string | undefined {
    return this.playback?.url
  }

  async start(): Promise<void> {
    this.stopping = false
    this.webSeed?.start()
    this.pool?.start()
    if (this.ownsStore) await this.store.start()
    await this.names.open()
    await this.recency.load()
    if (this.init.dataDir !== undefined)
      await restoreMembership(this.init.dataDir, {
        trustedTrackers: this.init.trustedTrackers,
        accept: (signed) => this.locality.setMembership(signed),
        log: this.log,
      })
    await this.libp2p.start()
    await this.network.start()
    this.lan?.attach(this.libp2p)
    // seed everything already held: manifests live in the store beside their chunks
    for await (const cid of this.store.list()) {
      if (cid.code !== DAG_CBOR_CODEC) continue
      this.manifests
        .get(cid, { capped: false })
        .then((m) => this.seed(m))
        .catch((err: Error) => this.log('not seeding %s: %s', cid, err.message))
    }
    // downloads a stop or a crash interrupted carry on
    for (const cid of this.downloads.interrupted()) {
      this.log('resuming the download of %s', cid)
      this.fetch(cid).catch((err: Error) => this.log('not resuming %s: %s', cid, err.message))
    }
    this.bootstrap.start()
    if (this.init.playback !== undefined && this.init.playback !== false) {
      const { startPlayback } = await import('./playback/server.ts')
      this.playback = await startPlayback(this, this.init.playback)
    }
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.webSeed?.stop()
    this.bootstrap.stop()
    this.manifests.stop()
    this.lan?.detach()
    await this.playback?.close()
    await this.network.stop()
    await this.libp2p.stop()
    await this.names.close()
    await this.recency.stop()
    if (this.ownsStore) await this.store.stop()
    await this.pool?.stop()
    this.chunkBuffers?.clear()
    this.eviction.roomless.clear()
  }

  /**
   * Downloads a manifest's content (verified chunk by chunk) and resolves when all of it
   * is stored. Until then the download is remembered in the store: a node restarted
   * midway (even killed) carries on by itself at start. Aborting forgets it.
   */
  async fetch(manifestCid: CID | string, options: FetchOptions = {}): Promise<Manifest> {
    return await this.downloads.fetch(toCid(manifestCid), options)
  }

  async seed(manifest: Manifest, _options: { signal?: AbortSignal } = {}): Promise<void> {
    // a hash-pool store takes ownership of what it is given (and Buffer#slice does not copy): hand it a copy
    if (!(await this.store.has(manifest.cid)))
      await this.store.put(manifest.cid, new Uint8Array(manifest.bytes))
    this.manifests.add(manifest)
    const swarm = this.swarm(manifest.cid)
    await swarm.setManifest(manifest)
  }

  unseed(manifestCid: CID | string): void {
    const cid = toCid(manifestCid)
    const key = cid.toString()
    this.network.leave(key)
    this.manifests.forget(cid)
    this.recency.forget(key)
  }

  async pin(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const m = await this.manifests.get(toCid(manifestCid), { signal: options.signal, capped: false })
    await this.store.pin(m.cid.toString(), [m.cid, ...m.chunks], options)
  }

  async unpin(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.store.unpin(toCid(manifestCid).toString(), options)
  }

  async evict(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const cid = toCid(manifestCid)
    const key = cid.toString()
    // what is known or held, without looking for it: an unknown manifest has no chunks here
    const m =
      this.manifests.peek(cid) ??
      ((await this.store.has(cid))
        ? await this.manifests.get(cid, { signal: options.signal, capped: false }).catch(() => undefined)
        : undefined)
    const swarm = this.network.swarms.get(key)
    this.network.leave(key)
    this.manifests.forget(cid)
    this.recency.forget(key)
    this.eviction.roomless.delete(key)
    await this.store.unpin(key, options)
    await this.downloads.forget(key, options)
    // chunks the swarm was still storing land after it left: wait for them, so they go too
    await swarm?.putsSettled()
    await this.eviction.deleteContent(cid, m, options)
  }

  async manifest(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<Manifest> {
    return await this.manifests.get(toCid(manifestCid), options)
  }

  read(
    manifestCid: CID | string,
    start: number,
    end: number,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<Uint8Array> {
    return this.reader.read(manifestCid, start, end, options)
  }

  setLimits(limits: Partial<Limits>): void {
    this.limiter.set(limits)
  }

  async setMembership(signed: SignedMembership, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    if (!this.locality.setMembership(signed)) {
      this.log.error('a membership statement that is not about this node, or not valid, was ignored')
      return false
    }
    options.signal?.throwIfAborted()
    // for the next start: a restart while the tracker is unreachable still proves the campus
    if (this.init.dataDir !== undefined) await keepMembership(this.init.dataDir, signed)
    return true
  }

  trustTracker(trackerId: string): void {
    this.locality.trust(trackerId)
  }

  status(): NodeStatus {
    return this.fetchFailures.report({
      peerId: this.peerId.toString(),
      role: this.init.role ?? 'campus',
      ...this.locality.place(),
      membership: membershipStatus(this.locality.statement()),
      multiaddrs: this.multiaddrs.map((a) => a.toString()),
      connections: this.libp2p.getConnections().length,
      bannedPeers: this.bans.size,
      swarms: [...this.network.swarms.values()].map((s) => ({
        ...s.progress(),
        ...s.stats,
        name: s.manifest?.name,
        complete: s.complete,
        error: s.failure?.message,
        peers: [...s.sessions.values()].map((p) => ({
          peer: p.peer,
          ...this.locality.of(p.peer, p.hello),
          role: p.hello?.role,
          score: p.score,
        })),
      })),
      totals: { ...this.totals },
      limits: this.limiter.get(),
      store: this.store.usage(),
      origin: this.webSeed?.status(),
      playbackUrl: this.playbackUrl,
    })
  }

  /** The swarm of a manifest, joined on first use. */
  swarm(cid: CID): Swarm {
    return this.joiner.swarm(cid)
  }

  private async verify(cid: CID, bytes: Uint8Array): Promise<Manifest> {
    return await verifyManifest(bytes, { cid, trustedKeys: this.init.trustedOrigins })
  }
}
