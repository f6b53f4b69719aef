/** Prometheus metrics of a node, computed from its status at scrape time. */
import { Counter, Gauge, Registry } from 'prom-client'
import type { DandelionNode } from '../index.ts'

/** A registry whose gauges and counters read `node.status()` when scraped. */
export function createNodeMetrics(node: Pick<DandelionNode, 'status'>): Registry {
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
  return registry
}
