/** The implementation behind `createNode` (see `index.ts` for the public contract). */

import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { DAG_CBOR_CODEC, HASH_POOL_IDLE_MS } from './constants.ts'
import { HashPool, type Manifest, parseCid, verifyManifest } from './content/index.ts'
import { writeFileDurably } from './durable-file.ts'
import { QuotaExceededError } from './errors.ts'
import { ContentEviction } from './eviction.ts'
import { FetchFailures } from './fetch-failures.ts'
import { createHost, type HostServices } from './host/index.ts'
import { LanDialer } from './host/lan-dialer.ts'
import type { DandelionNode, DandelionNodeInit, FetchOptions, NodeStatus } from './index.ts'
import { Limiter, type Limits } from './limiter/index.ts'
import { abortable, ManifestLoader } from './manifest-loader.ts'
import { parseMembership, type SignedMembership } from './membership.ts'
import { LevelNameTable, MemoryNameTable, type NameTable } from './names.ts'
import { DEVICE_QUOTA_BYTES, DEVICE_UPLOAD_BYTES_PER_SECOND, MAX_SWARMS } from './node-constants.ts'
import type { PlaybackServer } from './playback/server.ts'
import { Recency } from './recency.ts'
import { type ChunkStore, FsChunkStore, MemoryChunkStore } from './store/index.ts'
import { Bans } from './swarm/bans.ts'
import { ChunkBuffers } from './swarm/chunk-buffers.ts'
import { withDeadline } from './swarm/deadline.ts'
import { LimitReachedError, ProtocolError, StoreWriteError } from './swarm/errors.ts'
import { Locality } from './swarm/locality.ts'
import { SwarmNetwork } from './swarm/network.ts'
import { Swarm } from './swarm/swarm.ts'
import type { SwarmStats } from './swarm/swarm-types.ts'
import { WebSeed } from './swarm/web-seed.ts'

/** Pin key prefix that marks a download not finished yet (the pin holds the manifest). */
const WANT_PIN_PREFIX = 'want:'

const toCid = (c: CID | string): CID => (typeof c === 'string' ? parseCid(c, 'manifest') : c)

/** Whether a download failed for lack of room in the quota (not a disk or I/O failure). */
const outOfRoom = (err: unknown): boolean =>
  (err as Error)?.name === 'QuotaExceededError' ||
  ((err as Error)?.name === 'StoreWriteError' &&
    ((err as Error).cause as Error)?.name === 'QuotaExceededError')

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
  private keepAlive?: ReturnType<typeof setInterval>
  /** Fetches in progress by manifest CID: the last one to give up forgets the download. */
  private readonly fetching = new Map<string, number>()
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
    const quotaBytes = init.quotaBytes ?? (device ? DEVICE_QUOTA_BYTES : undefined)
    this.ownsStore = init.store === undefined
    if (this.ownsStore && (init.hashWorkers ?? 0) > 0)
      this.pool = new HashPool({ size: init.hashWorkers, idleMs: HASH_POOL_IDLE_MS })
    const storeInit = {
      quotaBytes,
      hasher: this.pool,
      // "cache with a quota and LRU eviction of unpinned manifests": whole manifests, never
      // chunk by chunk (that would leave swarms announcing and readers expecting chunks gone)
      makeRoom: device
        ? async (shortBy: () => number, options: { signal?: AbortSignal }, chunk?: string) =>
            await this.eviction.makeRoom(shortBy, options, chunk)
        : undefined,
    }
    this.store =
      init.store ??
      (init.dataDir === undefined
        ? new MemoryChunkStore(storeInit)
        : new FsChunkStore({
            dir: join(init.dataDir, 'store'),
            directIo: init.directIo ?? true,
            ...storeInit,
          }))
    if (this.store instanceof FsChunkStore) {
      const store = this.store
      this.chunkBuffers = new ChunkBuffers({ alloc: async (size) => await store.chunkBuffer(size) })
    }
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
    this.eviction = new ContentEviction({
      store: this.store,
      network: this.network,
      manifests: this.manifests,
      recency: this.recency,
      log: this.log,
      verify: async (cid, bytes) => await this.verify(cid, bytes),
      fetching: this.fetching,
      stopping: () => this.stopping,
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
    await this.loadMembership()
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
    for (const key of this.store.pins()) {
      if (!key.startsWith(WANT_PIN_PREFIX)) continue
      const cid = key.slice(WANT_PIN_PREFIX.length)
      this.log('resuming the download of %s', cid)
      this.fetch(cid).catch((err: Error) => this.log('not resuming %s: %s', cid, err.message))
    }
    this.dialBootstrap()
    this.keepAlive = setInterval(() => this.dialBootstrap(), 10_000)
    this.keepAlive.unref()
    if (this.init.playback !== undefined && this.init.playback !== false) {
      const { startPlayback } = await import('./playback/server.ts')
      this.playback = await startPlayback(this, this.init.playback)
    }
  }

  async stop(): Promise<void> {
    this.stopping = true
    this.webSeed?.stop()
    clearInterval(this.keepAlive)
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
    const cid = toCid(manifestCid)
    const key = cid.toString()
    const wanted = WANT_PIN_PREFIX + key
    const swarm = this.swarm(cid)
    this.recency.touch(key)
    // asked again: its chunks are wanted again, and kept (set before any wait, so no eviction slips in)
    this.eviction.roomless.delete(key)
    this.fetchFailures.clear(key)
    if (options.onProgress !== undefined) swarm.onProgress = options.onProgress
    // recorded before the lookup, which can take long (the manifest may not be out yet):
    // a node stopped or killed meanwhile still carries on at start
    if (!swarm.complete) await this.store.pin(wanted, [cid])
    options.onRecorded?.()
    this.fetching.set(key, (this.fetching.get(key) ?? 0) + 1)
    let found = false
    try {
      // an operator's or the tracker's download: not held to the cap on lookups anyone can start
      const manifest = await this.manifests.get(cid, { signal: options.signal, capped: false })
      found = true
      // content larger than the whole quota never fits: say so before evicting anything for it
      const { quotaBytes } = this.store.usage()
      await swarm.setManifest(manifest)
      if (manifest.size + manifest.bytes.byteLength > quotaBytes) {
        const err = new QuotaExceededError(
          `${manifest.name ?? key} is ${manifest.size + manifest.bytes.byteLength} bytes, more than this node's whole quota of ${quotaBytes} bytes`,
        )
        // reported in status too, as a refused chunk is: `dandelion fetch` follows it there
        swarm.refuse(err)
        throw err
      }
      // the manifest is what re-seeds and resumes the content at start: no download without it
      if (!(await this.store.has(cid))) {
        try {
          await this.store.put(cid, new Uint8Array(manifest.bytes), options)
        } catch (cause) {
          const err = new StoreWriteError(key, -1, cause as Error)
          swarm.refuse(err)
          throw err
        }
      }
      swarm.want()
      options.onProgress?.(swarm.progress())
      await abortable(swarm.done.promise, options.signal)
      await this.store.unpin(wanted)
      return manifest
    } catch (err) {
      // Forget the download when the caller gave up or the manifest cannot be had (it does
      // not verify), unless another fetch of it goes on. A stop, or a failure once the
      // manifest is known (a disk or I/O error), keeps it for the next start.
      // One that failed for lack of room lets its claim go too: two downloads each holding
      // part of the quota could otherwise never evict each other's chunks, and every retry
      // and restart failed again. Its partial chunks may go to make room; the next fetch
      // resumes from what is left. Content the user pinned cannot go: it keeps its claim.
      const roomless =
        !this.stopping &&
        (this.eviction.roomless.has(key) || outOfRoom(err)) &&
        !this.store.pins().includes(key)
      const forget = options.signal?.aborted === true || (!found && !this.stopping) || roomless
      if (forget && this.fetching.get(key) === 1) await this.store.unpin(wanted)
      if (options.signal?.aborted !== true) this.fetchFailures.record(key, err)
      throw err
    } finally {
      const n = (this.fetching.get(key) ?? 1) - 1
      if (n > 0) this.fetching.set(key, n)
      else this.fetching.delete(key)
    }
  }

  async seed(manifest: Manifest, _options: { signal?: AbortSignal } = {}): Promise<void> {
    // a hash-pool store takes ownership of what it is given (and Buffer#slice does not copy): hand it a copy
    if (!(await this.store.has(manifest.cid)))
      await this.store.put(manifest.cid, new Uint8Array(manifest.bytes))
    this.manifests.add(manifest)
    const swarm = this.swarm(manifest.cid)
    await swarm.setManifest(manifest)
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
    await this.store.unpin(WANT_PIN_PREFIX + key, options)
    // chunks the swarm was still storing land after it left: wait for them, so they go too
    await swarm?.putsSettled()
    await this.eviction.deleteContent(cid, m, options)
  }

  async manifest(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<Manifest> {
    return await this.manifests.get(toCid(manifestCid), options)
  }

  async *read(
    manifestCid: CID | string,
    start: number,
    end: number,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<Uint8Array> {
    const cid = toCid(manifestCid)
    const m = await this.manifest(cid, options)
    const swarm = this.swarm(cid)
    // content being played is not evicted to make room, and is the last to go afterwards;
    // counted before any wait, so an eviction deciding in the meantime sees the player
    swarm.openReads++
    this.recency.touch(swarm.key)
    try {
      await swarm.setManifest(m)
      for (let i = Math.floor(start / m.chunkSize); i <= Math.floor(end / m.chunkSize); i++) {
        const bytes = await this.readChunk(swarm, m, i, options)
        const chunkStart = i * m.chunkSize
        const from = Math.max(start - chunkStart, 0)
        const to = Math.min(end - chunkStart + 1, bytes.byteLength)
        yield from === 0 && to === bytes.byteLength ? bytes : bytes.subarray(from, to)
      }
    } finally {
      swarm.openReads--
      // in use until the read ends, not only when it began: a lesson a class watched for an
      // hour while other lessons were placed was otherwise the first to go once it ended
      // (unless it left the node meanwhile, whose order it must not re-enter)
      if (!swarm.stopped) this.recency.touch(swarm.key)
    }
  }

  /** Chunk `index` for a reader: waited for, and fetched again if it left the store meanwhile. */
  private async readChunk(
    swarm: Swarm,
    m: Manifest,
    index: number,
    options: { signal?: AbortSignal },
  ): Promise<Uint8Array> {
    for (;;) {
      await swarm.waitForChunk(index, options)
      try {
        return await this.store.get(m.chunks[index], options)
      } catch (err) {
        if ((err as Error).name !== 'ChunkNotFoundError' || swarm.stopped) throw err
        this.log('chunk %d of %s left the store: fetching it again', index, swarm.key)
        swarm.lost(index)
      }
    }
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
    if (this.init.dataDir !== undefined)
      await writeFileDurably(join(this.init.dataDir, MEMBERSHIP_FILE), JSON.stringify(signed))
    return true
  }

  trustTracker(trackerId: string): void {
    this.locality.trust(trackerId)
  }

  /** The statement the last run kept, if it still holds (else the node waits for a new one). */
  private async loadMembership(): Promise<void> {
    if (this.init.dataDir === undefined) return
    const text = await readFile(join(this.init.dataDir, MEMBERSHIP_FILE), 'utf8').catch(() => undefined)
    if (text === undefined) return
    let signed: SignedMembership | undefined
    try {
      signed = parseMembership(JSON.parse(text))
    } catch {}
    // its tracker must be one this node trusts by its settings, if it names any
    const trusted = this.init.trustedTrackers
    if (
      signed === undefined ||
      (trusted !== undefined && trusted.length > 0 && !trusted.includes(signed.m.tracker)) ||
      !this.locality.setMembership(signed)
    )
      this.log(
        'the membership statement kept in %s is not used (unreadable, expired or of another tracker)',
        MEMBERSHIP_FILE,
      )
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
    const key = cid.toString()
    const existing = this.network.swarms.get(key)
    if (existing !== undefined) return existing
    let seeking = 0
    for (const s of this.network.swarms.values()) if (s.busy) seeking++
    if (seeking >= MAX_SWARMS) throw new LimitReachedError(`more than ${MAX_SWARMS} downloads at once`)
    const role = this.init.role ?? 'campus'
    const swarm = new Swarm(
      cid,
      {
        store: this.store,
        limiter: this.limiter,
        log: logger(`dandelion:node:swarm:${key.slice(-8)}`),
        self: this.locality.self,
        placeOf: (peer, hello) => this.locality.of(peer, hello),
        ban: (peer, reason) => this.network.ban(peer, reason),
        webSeed: this.webSeed,
        totals: this.totals,
        chunkBuffers: this.chunkBuffers,
      },
      {
        superSeed: this.init.superSeed ?? role === 'origin',
        fallbackIdleMs: this.init.fallbackIdleMs,
        maxPeers: this.init.maxPeersPerSwarm,
        peerStallMs: this.init.peerStallMs,
      },
    )
    swarm.onManifestBytes = (bytes, from) => {
      this.verify(cid, bytes)
        .then(
          async (m) => {
            // a store that refuses it (disk or quota full) must not leave waiters hanging: the
            // manifest is verified; `fetch` stores it and reports the failure
            if (!(await this.store.has(cid)))
              await this.store
                .put(cid, new Uint8Array(m.bytes))
                .catch((err: Error) => this.log('storing the manifest %s failed: %s', cid, err.message))
            await swarm.setManifest(m)
          },
          (err: Error) => {
            // not the manifest asked for, or not signed by a trusted origin: the peer's doing
            from.offend(new ProtocolError(`manifest rejected: ${err.message}`))
          },
        )
        .catch((err: Error) => this.log('storing the manifest %s from a peer failed: %s', cid, err.message))
    }
    this.network.join(swarm)
    return swarm
  }

  private async verify(cid: CID, bytes: Uint8Array): Promise<Manifest> {
    return await verifyManifest(bytes, { cid, trustedKeys: this.init.trustedOrigins })
  }

  private dialBootstrap(): void {
    for (const addr of this.init.bootstrap ?? []) {
      const ma = multiaddr(addr)
      const id = ma.getComponents().find((c) => c.name === 'p2p')?.value
      if (id !== undefined && this.libp2p.getConnections().some((c) => c.remotePeer.toString() === id))
        continue
      withDeadline(10_000, async (signal) => await this.libp2p.dial(ma, { signal })).catch((err: Error) =>
        this.log('bootstrap %s: %s', addr, err.message),
      )
    }
  }
}

/** Where a node keeps its tracker's last statement of its campus and city. */
const MEMBERSHIP_FILE = 'membership.json'

function membershipStatus(s: SignedMembership | undefined): NodeStatus['membership'] {
  return s === undefined ? undefined : { tracker: s.m.tracker, nodeId: s.m.nodeId, expiresAt: s.m.expiresAt }
}
