/** Prometheus metrics of one origin (a registry of its own, so several origins can share a process). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { TrackerRegistrationMetrics, TrackerRegistrationStatus } from './tracker-status.ts'

/** The origin's metrics. */
export interface OriginMetrics {
  registry: Registry
  uploadsCreated: Counter
  versionsPublished: Counter
  versionsRemoved: Counter
  removedBytes: Counter
  ingestFailures: Counter
  ingestBytes: Counter
  ingestSeconds: Histogram
  chunkBytesServed: Counter
  contentBytesServed: Counter
  storeBytes: Gauge
}

/** The origin's data volume, as the upload service's free-space check reads it. */
export interface OriginDisk {
  /** Free bytes on it. */
  freeBytes: () => Promise<number>
  /** Bytes below which uploads are refused with 507 (`minFreeDiskBytes`; 0: none). */
  minFreeBytes: number
}

/**
 * Creates the metrics; `storeBytes` reads the store's usage, the `dandelion_origin_*disk*`
 * ones `disk`, and the `dandelion_origin_tracker_*` ones `tracker` (the origin's registration
 * with the tracker) when scraped.
 */
export function createMetrics(
  readStoreBytes: () => number,
  tracker: TrackerRegistrationStatus,
  disk: OriginDisk,
): OriginMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'dandelion_origin_' })
  const opts = { registers: [registry] }
  // one statfs per scrape (nothing keeps a recent reading: uploads read it as they write)
  new Gauge({
    name: 'dandelion_origin_disk_free_bytes',
    help: "free bytes on the origin's data volume (NaN: statfs failed)",
    async collect() {
      this.set(await disk.freeBytes().catch(() => Number.NaN))
    },
    ...opts,
  })
  new Gauge({
    name: 'dandelion_origin_min_free_disk_bytes',
    help: 'free bytes below which uploads are refused with 507 (--min-free-disk-bytes; 0: none)',
    collect() {
      this.set(disk.minFreeBytes)
    },
    ...opts,
  })
  const trackerGauge = (name: string, help: string, key: keyof TrackerRegistrationMetrics): Gauge =>
    new Gauge({
      name: `dandelion_origin_tracker_${name}`,
      help,
      collect() {
        this.set(tracker.metrics()[key])
      },
      ...opts,
    })
  // kept by the status as plain numbers: the counter shows the count when scraped
  const trackerCounter = (name: string, help: string, key: keyof TrackerRegistrationMetrics): Counter =>
    new Counter({
      name: `dandelion_origin_tracker_${name}`,
      help,
      collect() {
        this.reset()
        this.inc(tracker.metrics()[key])
      },
      ...opts,
    })
  trackerGauge(
    'registration_enabled',
    '1 when the origin registers versions with a tracker (--tracker-url)',
    'enabled',
  )
  trackerGauge('pending_versions', 'public versions waiting to be registered with the tracker', 'pending')
  trackerGauge(
    'consecutive_failures',
    'failed attempts in a row to register with the tracker (0 once one works); retried with a backoff of at most 5 minutes',
    'consecutiveFailures',
  )
  trackerGauge(
    'token_refused',
    '1 while the tracker refuses the admin token (--tracker-token): nothing is registered until it matches',
    'tokenRefused',
  )
  trackerGauge(
    'last_failure_timestamp_seconds',
    'time of the last failed registration attempt (0: none since the start)',
    'lastFailureSeconds',
  )
  trackerGauge(
    'last_success_timestamp_seconds',
    'time the last version was registered with the tracker (0: none since the start)',
    'lastSuccessSeconds',
  )
  trackerCounter(
    'registration_failures_total',
    'failed attempts to register a version with the tracker (unreachable, erring, token refused)',
    'failuresTotal',
  )
  trackerCounter('versions_registered_total', 'versions registered with the tracker', 'registeredTotal')
  trackerCounter(
    'versions_refused_total',
    'versions the tracker refused for good (a malformed field): not registered',
    'refusedTotal',
  )
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
    versionsRemoved: new Counter({
      name: 'dandelion_origin_versions_removed_total',
      help: 'resource versions removed (DELETE /resources/:name/versions/:version)',
      ...opts,
    }),
    removedBytes: new Counter({
      name: 'dandelion_origin_removed_bytes_total',
      help: 'bytes of chunk data deleted with removed versions (chunks other versions share are kept)',
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
