/**
 * A node's parts, made and wired together: its libp2p host (with the bans its connection
 * gater reads and, with mDNS, the dialer of what it finds), its storage
 * (`node-storage.ts`), names, limits, origin fallback, place, swarms, manifests, content
 * eviction, downloads and the reader players use. The node (`node.ts`) starts, stops and
 * calls them.
 */
import { join } from 'node:path'
import type { Libp2p, Logger } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { BootstrapDialer } from './bootstrap-dialer.ts'
import { type Manifest, verifyManifest } from './content/index.ts'
import { Downloads } from './downloads.ts'
import { ContentEviction } from './eviction.ts'
import { FetchFailures } from './fetch-failures.ts'
import { createHost, type HostServices } from './host/index.ts'
import { LanDialer } from './host/lan-dialer.ts'
import type { DandelionNodeInit } from './index.ts'
import { Limiter } from './limiter/index.ts'
import { ManifestLoader } from './manifest-loader.ts'
import { LevelNameTable, MemoryNameTable, type NameTable } from './names.ts'
import { DEVICE_UPLOAD_BYTES_PER_SECOND } from './node-constants.ts'
import { type NodeStorage, nodeStorage } from './node-storage.ts'
import { RangeReader } from './range-reader.ts'
import { Recency } from './recency.ts'
import { FsChunkStore } from './store/index.ts'
import { Bans } from './swarm/bans.ts'
import { Locality } from './swarm/locality.ts'
import { SwarmNetwork } from './swarm/network.ts'
import type { SwarmStats } from './swarm/swarm-types.ts'
import { WebSeed } from './swarm/web-seed.ts'
import { SwarmJoiner } from './swarm-joiner.ts'

/** A node's libp2p host, as {@link nodeHost} makes it. */
export interface NodeHost {
  libp2p: Libp2p<HostServices>
  /** Peers banned by any swarm, refused by the host's connection gater too. */
  bans: Bans
  /** Dials the peers mDNS finds (when `mdns` is on). */
  lan?: LanDialer
}

/** A node's parts, as {@link nodeComponents} wires them (see the module comment). */
export interface NodeComponents extends NodeHost, NodeStorage {
  log: Logger
  /** Resource name → active manifest CID (level in the data directory, or memory). */
  names: NameTable
  /** The node's counters, added to by every swarm. */
  totals: SwarmStats
  limiter: Limiter
  /** The origin fallback, when an origin is configured. */
  webSeed?: WebSeed
  /** When each manifest was last fetched or played, across restarts (what `makeRoom` evicts by). */
  recency: Recency
  /** Where this node and its peers are (`swarm/locality.ts`). */
  locality: Locality
  /** The protocol handler and the swarms this node is in, with their sessions. */
  network: SwarmNetwork
  /** Keeps the bootstrap peers connected. */
  bootstrap: BootstrapDialer
  /** The swarms this node is in, joined on first use. */
  joiner: SwarmJoiner
  /** Manifests from the store, peers or the origin, verified. */
  manifests: ManifestLoader
  /** A device's cache: eviction to make room, downloads given up for lack of it, deletion. */
  eviction: ContentEviction
  /** Fetches that failed before their download began (an untrusted manifest), for `status()`. */
  fetchFailures: FetchFailures
  /** Downloads recorded in the store until done, resumed at start. */
  downloads: Downloads
  /** Reads content for players. */
  reader: RangeReader
}

/** Makes a node's libp2p host, with the bans its gater reads and its mDNS dialer. */
export async function nodeHost(init: DandelionNodeInit): Promise<NodeHost> {
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
  return { libp2p, bans, lan }
}

/**
 * Makes the parts of a node on `host` and wires them together.
 * @param stopping whether the node is stopping (the lookups a stop ends are not downloads to forget)
 */
export function nodeComponents(
  init: DandelionNodeInit,
  host: NodeHost,
  stopping: () => boolean,
): NodeComponents {
  const { libp2p, bans } = host
  const log = logger('dandelion:node')
  const device = init.role === 'device'
  const storage = nodeStorage(
    init,
    async (shortBy, options, chunk) => await eviction.makeRoom(shortBy, options, chunk),
  )
  const { store } = storage
  const verify = async (cid: CID, bytes: Uint8Array): Promise<Manifest> =>
    await verifyManifest(bytes, { cid, trustedKeys: init.trustedOrigins })
  const totals: SwarmStats = {
    bytesFromPeers: 0,
    bytesFromOrigin: 0,
    bytesUploaded: 0,
    corruptChunks: 0,
    duplicateChunks: 0,
  }
  const names =
    init.dataDir === undefined ? new MemoryNameTable() : new LevelNameTable(join(init.dataDir, 'names'))
  const recency = new Recency({
    path: init.dataDir === undefined ? undefined : join(init.dataDir, 'recency.json'),
  })
  const limiter = new Limiter({
    uploadBytesPerSecond: device ? DEVICE_UPLOAD_BYTES_PER_SECOND : undefined,
    ...init.limits,
  })
  const webSeed =
    init.originUrl === undefined
      ? undefined
      : new WebSeed({
          url: init.originUrl,
          buckets: [limiter.origin, limiter.download],
          backoff: init.originBackoff,
        })
  const locality = new Locality({
    peerId: libp2p.peerId.toString(),
    role: init.role ?? 'campus',
    campus: init.campus,
    city: init.city,
    trustedTrackers: init.trustedTrackers,
  })
  const network = new SwarmNetwork(libp2p, log, { dht: libp2p.services.dht, bans })
  const bootstrap = new BootstrapDialer({ libp2p, log }, { bootstrap: init.bootstrap })
  const { chunkBuffers } = storage
  const joiner = new SwarmJoiner(
    { store, limiter, network, locality, webSeed, totals, chunkBuffers, verify, log },
    init,
  )
  const manifests = new ManifestLoader({
    store,
    webSeed,
    log,
    verify,
    fromPeers: (cid) => {
      const swarm = joiner.swarm(cid)
      swarm.seek()
      return swarm.manifestReady.promise
    },
    abandoned: (cid) => {
      // a lookup nobody waits for any more leaves no swarm behind, unless something else uses it
      const swarm = network.swarms.get(cid.toString())
      if (swarm !== undefined && swarm.manifest === undefined && !swarm.replicate && swarm.openReads === 0)
        network.leave(swarm.key)
    },
  })
  // fetches in progress by manifest CID: counted by the downloads, spared by the eviction
  const fetching = new Map<string, number>()
  const eviction = new ContentEviction({
    store,
    network,
    manifests,
    recency,
    log,
    verify,
    fetching,
    stopping,
    diskFloor: store instanceof FsChunkStore ? store.diskFloor : undefined,
  })
  const fetchFailures = new FetchFailures()
  const swarm = (cid: CID) => joiner.swarm(cid)
  const downloads = new Downloads({
    store,
    manifests,
    recency,
    roomless: eviction.roomless,
    fetchFailures,
    fetching,
    swarm,
    stopping,
    log,
  })
  const reader = new RangeReader({ store, manifests, swarm, recency, log })
  return {
    ...host,
    ...storage,
    log,
    names,
    totals,
    limiter,
    webSeed,
    recency,
    locality,
    network,
    bootstrap,
    joiner,
    manifests,
    eviction,
    fetchFailures,
    downloads,
    reader,
  }
}
