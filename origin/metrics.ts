/** Prometheus metrics of one origin (a registry of its own, so several origins can share a process). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/** The origin's metrics. */
export interface OriginMetrics {
  registry: Registry
  uploadsCreated: Counter
  versionsPublished: Counter
  ingestFailures: Counter
  ingestBytes: Counter
  ingestSeconds: Histogram
  chunkBytesServed: Counter
  contentBytesServed: Counter
  storeBytes: Gauge
}

/** Creates the metrics; `storeBytes` reads the store's usage when scraped. */
export function createMetrics(readStoreBytes: () => number): OriginMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'dandelion_origin_' })
  const opts = { registers: [registry] }
  return {
    registry,
    uploadsCreated: new Counter({
      name: 'dandelion_origin_uploads_created_total',
      help: 'tus uploads created',
      ...opts,
    }),
    versionsPublished: new Counter({
      name: 'dandelion_origin_versions_published_total',
      help: 'resource versions published',
      ...opts,
    }),
    ingestFailures: new Counter({
      name: 'dandelion_origin_ingest_failures_total',
      help: 'ingests that failed (checksum mismatch, I/O)',
      ...opts,
    }),
    ingestBytes: new Counter({
      name: 'dandelion_origin_ingest_bytes_total',
      help: 'bytes ingested',
      ...opts,
    }),
    ingestSeconds: new Histogram({
      name: 'dandelion_origin_ingest_seconds',
      help: 'duration of publishing a version: the manifest and catalog commit for an upload (chunks are stored as bytes arrive), the whole chunk-hash-store pass for a local file',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
      ...opts,
    }),
    chunkBytesServed: new Counter({
      name: 'dandelion_origin_chunk_bytes_served_total',
      help: 'chunk bytes served over HTTP (the web-seed fallback)',
      ...opts,
    }),
    contentBytesServed: new Counter({
      name: 'dandelion_origin_content_bytes_served_total',
      help: 'content bytes served for previews',
      ...opts,
    }),
    storeBytes: new Gauge({
      name: 'dandelion_origin_store_bytes',
      help: 'bytes of chunk data stored',
      collect() {
        this.set(readStoreBytes())
      },
      ...opts,
    }),
  }
}
