/** Prometheus metrics of a node, computed from its status at scrape time. */
import { Counter, Gauge, Registry } from 'prom-client'
import type { DandelionNode } from '../index.ts'

/** What the playback server itself counts, for its operators. */
export interface PlaybackCounts {
  /** Responses reading content now (waiting for a chunk, or streaming to their player). */
  reads: number
  /** Reads given up on since start: nothing of the content arrived within the bound (`ChunkTimeoutError`). */
  chunkTimeouts: number
}

/**
 * A registry whose gauges and counters read `node.status()` when scraped, and `playback`'s
 * counts when given.
 */
export function createNodeMetrics(node: Pick<DandelionNode, 'status'>, playback?: PlaybackCounts): Registry {
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
  // the node's totals only grow: counters, as their `_total` names say (a gauge named so is
  // flagged by `promtool check metrics`, and `rate()` over a gauge is not reset-aware)
  const counter = (name: string, help: string, read: () => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read())
      },
    })
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
  gauge('dandelion_node_store_bytes', 'Bytes in the chunk store', (g) => g.set(node.status().store.bytes))
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
