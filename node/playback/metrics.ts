/** Prometheus metrics of a node, computed from its status at scrape time. */
import { Gauge, Registry } from 'prom-client'
import type { DandelionNode } from '../index.ts'
import { counterReading } from '../metrics-gauge.ts'

/** What the playback server itself counts, for its operators. */
export interface PlaybackCounts {
  /** Responses reading content now (waiting for a chunk, or streaming to their player). */
  reads: number
  /** Reads given up on since start: nothing of the content arrived within the bound (`ChunkTimeoutError`). */
  chunkTimeouts: number
}

/**
 * A registry whose gauges and counters read `node.status()` and `node.store` when scraped,
 * and `playback`'s counts when given.
 */
export function createNodeMetrics(
  node: Pick<DandelionNode, 'status' | 'store'>,
  playback?: PlaybackCounts,
): Registry {
  const registry = new Registry()
  const gauge = (name: string, help: string, read: (g: Gauge) => void, labelNames: string[] = []): void => {
    new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        read(this)
      },
    })
  }
  // the node's totals only grow: counters, as their `_total` names say
  const counter = (name: string, help: string, read: () => number): void => {
    counterReading(registry, name, help, read)
  }
  counter(
    'dandelion_node_bytes_from_peers_total',
    'Chunk bytes received from peers',
    () => node.status().totals.bytesFromPeers,
  )
  counter(
    'dandelion_node_bytes_from_origin_total',
    'Chunk bytes fetched from the origin over HTTP',
    () => node.status().totals.bytesFromOrigin,
  )
  counter(
    'dandelion_node_bytes_uploaded_total',
    'Chunk bytes served to peers',
    () => node.status().totals.bytesUploaded,
  )
  counter(
    'dandelion_node_corrupt_chunks_total',
    'Chunks that failed verification',
    () => node.status().totals.corruptChunks,
  )
  gauge(
    'dandelion_node_origin_consecutive_failures',
    'Failed origin requests since the last success (the fallback backs off while > 0)',
    (g) => g.set(node.status().origin?.consecutiveFailures ?? 0),
  )
  gauge('dandelion_node_connections', 'Open libp2p connections', (g) => g.set(node.status().connections))
  gauge('dandelion_node_banned_peers', 'Peers banned right now (corrupt chunks, protocol violations)', (g) =>
    g.set(node.status().bannedPeers),
  )
  gauge('dandelion_node_store_bytes', 'Bytes in the chunk store', (g) => g.set(node.store.usage().bytes))
  gauge(
    'dandelion_node_store_pinned_bytes',
    'Bytes of the chunk store the node must keep (pinned content, downloads in progress): never evicted',
    (g) => g.set(node.store.usage().pinnedBytes),
  )
  // unlimited is +Inf, not a missing series: `pinned > 0.9 * limit` is then simply false
  gauge(
    'dandelion_node_store_quota_bytes',
    'Byte quota of the chunk store (--quota-bytes; +Inf: none)',
    (g) => g.set(node.store.usage().quotaBytes),
  )
  gauge(
    'dandelion_node_store_limit_bytes',
    'Most bytes the chunk store may hold now: its quota, or less when the disk free-space floor (--min-free-disk-bytes) binds (+Inf: neither)',
    (g) => {
      const u = node.store.usage()
      g.set(u.limitBytes ?? u.quotaBytes)
    },
  )
  counter(
    'dandelion_node_store_refused_writes_total',
    'Chunks and manifests the store refused for lack of room (at its limit with nothing left to evict), and content larger than the whole quota: content not placed',
    () => node.store.usage().refusedWrites,
  )
  // a store in memory has no disk of its own to watch
  const { disk } = node.store
  if (disk !== undefined) {
    gauge(
      'dandelion_node_disk_free_bytes',
      "Free bytes on the chunk store's disk (NaN: statfs failed)",
      (g) => g.set(disk.freeBytes()),
    )
    gauge(
      'dandelion_node_min_free_disk_bytes',
      'Bytes the chunk store keeps free on its disk (--min-free-disk-bytes; 0: none)',
      (g) => g.set(disk.minFreeBytes),
    )
  }
  // scrubbing: only a node that scrubs (its own on-disk store) exports these
  if (node.status().scrub !== undefined) {
    const scrub = () => node.status().scrub
    counter(
      'dandelion_node_scrub_chunks_checked_total',
      'Chunks a scrub read back from disk and hashed',
      () => scrub()?.totals.chunksChecked ?? 0,
    )
    counter(
      'dandelion_node_scrub_corrupt_chunks_total',
      'Chunks a scrub found corrupt on disk (dropped, and fetched again)',
      () => scrub()?.totals.corruptFound ?? 0,
    )
    counter(
      'dandelion_node_scrub_read_errors_total',
      'Chunks a scrub could not read from disk at all (an I/O error): kept, and said in the log',
      () => scrub()?.totals.readErrors ?? 0,
    )
    gauge(
      'dandelion_node_scrub_last_pass_end_timestamp_seconds',
      'When the last whole scrub pass ended (Unix seconds)',
      (g) => g.set((scrub()?.lastPassEndedAt ?? 0) / 1000),
    )
  }
  gauge(
    'dandelion_node_swarm_progress_ratio',
    'Share of a manifest held',
    (g) => {
      g.reset()
      for (const s of node.status().swarms)
        g.set({ manifest: s.manifestCid }, s.chunksTotal === 0 ? 0 : s.chunksDone / s.chunksTotal)
    },
    ['manifest'],
  )
  gauge(
    'dandelion_node_swarm_peers',
    'Peers in a swarm',
    (g) => {
      g.reset()
      for (const s of node.status().swarms) g.set({ manifest: s.manifestCid }, s.peers.length)
    },
    ['manifest'],
  )
  if (playback !== undefined) {
    // a count that only grows while players come and go is a leak (a read not ended)
    gauge('dandelion_node_playback_reads', 'Playback responses reading content now', (g) =>
      g.set(playback.reads),
    )
    counter(
      'dandelion_node_playback_chunk_timeouts_total',
      'Playback reads given up on: nothing of the content arrived from a peer or the origin in time',
      () => playback.chunkTimeouts,
    )
  }
  return registry
}
