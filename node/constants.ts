/** Defaults of the node library and content model, with units in the names. */

const KiB = 1024
const MiB = 1024 * KiB

/** Default chunk size. */
export const DEFAULT_CHUNK_SIZE_BYTES = 1 * MiB
/** Smallest allowed chunk size. */
export const MIN_CHUNK_SIZE_BYTES = 256 * KiB
/** Largest allowed chunk size. */
export const MAX_CHUNK_SIZE_BYTES = 4 * MiB
/** Multicodec of a chunk CID: raw bytes. */
export const RAW_CODEC = 0x55
/** Multicodec of a manifest CID: dag-cbor. */
export const DAG_CBOR_CODEC = 0x71
/** Multihash code of BLAKE3-256. */
export const BLAKE3_CODE = 0x1e
/** Manifest schema version this code writes and reads. */
export const MANIFEST_VERSION = 1
/** Largest encoded manifest accepted from anywhere (a 3 GB file at 256 KiB is ~0.5 MB). */
export const MAX_MANIFEST_BYTES = 8 * MiB
/** Largest file a manifest may describe. */
export const MAX_CONTENT_SIZE_BYTES = 64 * 1024 * MiB
/** Longest resource name. */
export const MAX_NAME_LENGTH = 200
/** Chunks hashed concurrently per worker when ingesting a stream. */
export const HASH_QUEUE_PER_WORKER = 2
/**
 * A node's hash workers stop after this long without a chunk to verify, and start again
 * at the next one: a node that only seeds holds no worker isolate.
 */
export const HASH_POOL_IDLE_MS = 30_000
