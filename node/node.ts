/**
 * The implementation behind `createNode` (see `index.ts` for the public contract): a
 * node's parts (`node-components.ts`) started, stopped and called. Beside it: its content
 * (`node-content.ts`), downloads (`downloads.ts`) and status (`node-status.ts`).
 */

import type { Libp2p, PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { DAG_CBOR_CODEC } from './constants.ts'
import { type Manifest, parseCid } from './content/index.ts'
import { ScrubUnavailableError } from './errors.ts'
import type { HostServices } from './host/index.ts'
import type { DandelionNode, DandelionNodeInit, FetchOptions, NodeStatus, ScrubStatus } from './index.ts'
import type { Limits } from './limiter/index.ts'
import { parseSchedule, RateSchedule } from './limiter/schedule.ts'
import type { SignedMembership } from './membership.ts'
import { keepMembership, restoreMembership } from './membership-file.ts'
import type { NameTable } from './names.ts'
import { type NodeComponents, type NodeHost, nodeComponents, nodeHost } from './node-components.ts'
import { NodeContent } from './node-content.ts'
import { nodeStatus } from './node-status.ts'
import type { PlaybackServer } from './playback/server.ts'
import { nodeScrubber, type Scrubber } from './scrub.ts'
import type { ChunkStore } from './store/index.ts'
import type { SwarmNetwork } from './swarm/network.ts'
import type { Swarm } from './swarm/swarm.ts'
import type { SwarmStats } from './swarm/swarm-types.ts'

const toCid = (c: CID | string): CID => (typeof c === 'string' ? parseCid(c, 'manifest') : c)

/** See {@link DandelionNode}. */
export class DandelionNodeImpl implements DandelionNode {
  readonly libp2p: Libp2p<HostServices>
  readonly names: NameTable
  readonly store: ChunkStore
  readonly totals: SwarmStats
  private readonly init: DandelionNodeInit
  /** The node's parts, wired together (`node-components.ts`). */
  private readonly c: NodeComponents
  /** The protocol handler and the swarms this node is in, with their sessions. */
  private readonly network: SwarmNetwork
  /** What the node seeds, pins and evicts. */
  private readonly content: NodeContent
  private playback?: PlaybackServer
  /** Reads back and hashes the node's own on-disk store on a schedule (`scrub.ts`). */
  private readonly scrubber?: Scrubber
  /** Sets the origin rate by time of day (`limiter/schedule.ts`). */
  private readonly originSchedule?: RateSchedule
  /** Set by {@link stop}: the lookups it ends are not downloads to forget. */
  private stopping = false

  static async create(init: DandelionNodeInit): Promise<DandelionNodeImpl> {
    return new DandelionNodeImpl(init, await nodeHost(init))
  }

  private constructor(init: DandelionNodeInit, host: NodeHost) {
    this.init = { ...init }
    const c = nodeComponents(this.init, host, () => this.stopping)
    this.c = c
    this.libp2p = c.libp2p
    this.names = c.names
    this.store = c.store
    this.totals = c.totals
    this.network = c.network
    this.content = new NodeContent({
      store: c.store,
      manifests: c.manifests,
      network: c.network,
      recency: c.recency,
      eviction: c.eviction,
      downloads: c.downloads,
      swarm: (cid) => this.swarm(cid),
    })
    const windows = parseSchedule(init.originLimitSchedule ?? [])
    this.originSchedule =
      windows.length === 0
        ? undefined
        : new RateSchedule(
            { setOriginRate: (rate) => c.limiter.set({ originBytesPerSecond: rate }) },
            windows,
            init.limits?.originBytesPerSecond ?? Number.POSITIVE_INFINITY,
          )
    this.scrubber = nodeScrubber(this.init, {
      store: c.store,
      ownsStore: c.ownsStore,
      swarms: () => c.network.swarms.values(),
      fetchAgain: (cid) => {
        this.fetch(cid).catch((err: Error) =>
          c.log('not fetching %s again after a scrub: %s', cid, err.message),
        )
      },
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
    const { c } = this
    this.stopping = false
    c.webSeed?.start()
    this.originSchedule?.start()
    c.pool?.start()
    if (c.ownsStore) await this.store.start()
    await this.names.open()
    await c.recency.load()
    if (this.init.dataDir !== undefined)
      await restoreMembership(this.init.dataDir, {
        trustedTrackers: this.init.trustedTrackers,
        accept: (signed) => c.locality.setMembership(signed),
        log: c.log,
      })
    await this.libp2p.start()
    await this.network.start()
    c.lan?.attach(this.libp2p)
    // seed everything already held: manifests live in the store beside their chunks
    for await (const cid of this.store.list()) {
      if (cid.code !== DAG_CBOR_CODEC) continue
      c.manifests
        .get(cid, { capped: false })
        .then((m) => this.seed(m))
        .catch((err: Error) => c.log('not seeding %s: %s', cid, err.message))
    }
    // downloads a stop or a crash interrupted carry on
    for (const cid of c.downloads.interrupted()) {
      c.log('resuming the download of %s', cid)
      this.fetch(cid).catch((err: Error) => c.log('not resuming %s: %s', cid, err.message))
    }
    c.bootstrap.start()
    await this.scrubber?.start()
    if (this.init.playback !== undefined && this.init.playback !== false) {
      const { startPlayback } = await import('./playback/server.ts')
      this.playback = await startPlayback(this, this.init.playback)
    }
  }

  async stop(): Promise<void> {
    const { c } = this
    this.stopping = true
    c.webSeed?.stop()
    this.originSchedule?.stop()
    c.bootstrap.stop()
    c.manifests.stop()
    c.lan?.detach()
    await this.playback?.close()
    await this.scrubber?.stop()
    await this.network.stop()
    await this.libp2p.stop()
    await this.names.close()
    await c.recency.stop()
    if (c.ownsStore) await this.store.stop()
    await c.pool?.stop()
    c.chunkBuffers?.clear()
    c.eviction.roomless.clear()
  }

  /**
   * Downloads a manifest's content (verified chunk by chunk) and resolves when all of it
   * is stored. Until then the download is remembered in the store: a node restarted
   * midway (even killed) carries on by itself at start. Aborting forgets it.
   */
  async fetch(manifestCid: CID | string, options: FetchOptions = {}): Promise<Manifest> {
    return await this.c.downloads.fetch(toCid(manifestCid), options)
  }

  async seed(manifest: Manifest, _options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.content.seed(manifest)
  }

  unseed(manifestCid: CID | string): void {
    this.content.unseed(toCid(manifestCid))
  }

  async pin(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.content.pin(toCid(manifestCid), options)
  }

  async unpin(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.content.unpin(toCid(manifestCid), options)
  }

  async evict(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await this.content.evict(toCid(manifestCid), options)
  }

  async manifest(manifestCid: CID | string, options: { signal?: AbortSignal } = {}): Promise<Manifest> {
    return await this.c.manifests.get(toCid(manifestCid), options)
  }

  read(
    manifestCid: CID | string,
    start: number,
    end: number,
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<Uint8Array> {
    return this.c.reader.read(manifestCid, start, end, options)
  }

  setLimits(limits: Partial<Limits>): void {
    this.c.limiter.set(limits)
  }

  async setMembership(signed: SignedMembership, options: { signal?: AbortSignal } = {}): Promise<boolean> {
    if (!this.c.locality.setMembership(signed)) {
      this.c.log.error('a membership statement that is not about this node, or not valid, was ignored')
      return false
    }
    options.signal?.throwIfAborted()
    // for the next start: a restart while the tracker is unreachable still proves the campus
    if (this.init.dataDir !== undefined) await keepMembership(this.init.dataDir, signed)
    return true
  }

  trustTracker(trackerId: string): void {
    this.c.locality.trust(trackerId)
  }

  status(): NodeStatus {
    return nodeStatus(this.c, {
      role: this.init.role ?? 'campus',
      playbackUrl: this.playbackUrl,
      scrub: this.scrubber?.status(),
      originSchedule: this.originSchedule?.status(),
    })
  }

  async scrub(): Promise<ScrubStatus> {
    if (this.scrubber === undefined) throw new ScrubUnavailableError()
    return await this.scrubber.runNow()
  }

  /** The swarm of a manifest, joined on first use. */
  swarm(cid: CID): Swarm {
    return this.c.joiner.swarm(cid)
  }
}
