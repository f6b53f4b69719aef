/** Defaults of the origin service, with units in the names. */

const MiB = 1024 * 1024
const GiB = 1024 * MiB

/** Address the origin listens on. */
export const DEFAULT_HOST = '127.0.0.1'
/** Port the origin listens on. */
export const DEFAULT_PORT = 8080
/** Largest upload accepted. */
export const DEFAULT_MAX_UPLOAD_BYTES = 8 * GiB
/** Unfinished uploads expire after this long without a PATCH (tus expiration extension). */
export const DEFAULT_UPLOAD_EXPIRY_MS = 24 * 60 * 60 * 1000
/** How often expired uploads are swept. */
export const EXPIRY_SWEEP_INTERVAL_MS = 10 * 60 * 1000
/**
 * Sweeps that retry publishing one complete upload whose publishing failed (the client
 * gave up, or left): 1, 2, 4… sweeps apart, so about 16 hours in all.
 */
export const PUBLISH_RETRY_MAX_ATTEMPTS = 8
/** Most sweeps between two retries of publishing one upload. */
export const PUBLISH_RETRY_MAX_SWEEPS_APART = 32
/** Uploads and PATCHes are refused with 507 when less disk than this is free. */
export const DEFAULT_MIN_FREE_DISK_BYTES = 256 * MiB
/**
 * Bytes of a PATCH body between two free-space checks: a PATCH that brings the disk
 * below the minimum stops with 507, keeping what it stored (one statfs per 8 MiB).
 */
export const DISK_CHECK_INTERVAL_BYTES = 8 * MiB
/** Ingests run one at a time: each one already uses every core through the hash pool. */
export const MAX_CONCURRENT_INGESTS = 1
/**
 * Consecutive chunks of a local file that one hash-pool request reads, hashes and writes
 * while it is ingested: the event loop is woken once per run, and the store gets one
 * larger direct write.
 */
export const FILE_INGEST_RUN_CHUNKS = 4
/**
 * Chunks of a local file in flight per hash worker while it is ingested: six runs, one
 * being read and hashed, one queued, the others being written (direct writes to one
 * segment go one at a time) and indexed. Four runs left the workers waiting on writes
 * about 4% more (interleaved runs on the test VM: median 1134 against 1180 MiB/s);
 * more than six bought nothing.
 */
export const FILE_INGEST_CHUNKS_PER_WORKER = 6 * FILE_INGEST_RUN_CHUNKS
/** Ingests waiting for their turn; past this, finished uploads get 503 and may retry the last PATCH. */
export const MAX_QUEUED_INGESTS = 64
/** Content responses are immutable: the URL names the content by hash. */
export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable'
/** Media type of an encoded manifest. */
export const MANIFEST_MEDIA_TYPE = 'application/vnd.dandelion.manifest+cbor'
/** tus upload ids this origin issues: 32 lower-case hex characters. */
export const UPLOAD_ID_RE = /^[0-9a-f]{32}$/

/** Private versions (homework photos) are removed this long after they were published. */
export const DEFAULT_PRIVATE_RETENTION_MS = 30 * 24 * 60 * 60 * 1000
/** How often the retention policy is applied (`retention.ts`). */
export const RETENTION_SWEEP_INTERVAL_MS = 60 * 60 * 1000
