/**
 * Typed errors of the node library and the content model. Match them by `name`
 * (or `code`), never by message text.
 */

/** Base class: every Dandelion error has a stable `name` and `code`. */
export class DandelionError extends Error {
  /** Stable machine-readable code, e.g. `ERR_CHUNK_HASH_MISMATCH`. */
  readonly code: string

  constructor(message: string, code: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Bytes did not hash to the CID they were offered under. */
export class ChunkHashMismatchError extends DandelionError {
  override name = 'ChunkHashMismatchError'
  constructor(message = 'chunk bytes do not match their CID') {
    super(message, 'ERR_CHUNK_HASH_MISMATCH')
  }
}

/** A CID is malformed or is not a raw/BLAKE3 chunk id. */
export class InvalidCidError extends DandelionError {
  override name = 'InvalidCidError'
  constructor(message: string) {
    super(message, 'ERR_INVALID_CID')
  }
}

/** The chunk is not in the store. */
export class ChunkNotFoundError extends DandelionError {
  override name = 'ChunkNotFoundError'
  constructor(cid: string) {
    super(`chunk ${cid} not found`, 'ERR_CHUNK_NOT_FOUND')
  }
}

/** Storing would exceed the store's byte quota and nothing unpinned can be evicted. */
export class QuotaExceededError extends DandelionError {
  override name = 'QuotaExceededError'
  /** Set when the room ran out at the disk's free-space floor, not at the quota. */
  readonly diskFloor: DiskFloorInfo | undefined
  constructor(message: string, options: { diskFloor?: DiskFloorInfo } = {}) {
    super(message, 'ERR_QUOTA_EXCEEDED')
    this.diskFloor = options.diskFloor
  }
}

/** A store's free-space floor: the bytes kept free on the disk of `dir`. */
export interface DiskFloorInfo {
  dir: string
  minFreeBytes: number
}

/** A chunk store's files are not what its index says (a segment cut short or gone). */
export class ChunkStoreCorruptError extends DandelionError {
  override name = 'ChunkStoreCorruptError'
  constructor(message: string) {
    super(message, 'ERR_CHUNK_STORE_CORRUPT')
  }
}

/** A manifest could not be decoded or fails a structural rule. */
export class InvalidManifestError extends DandelionError {
  override name = 'InvalidManifestError'
  constructor(message: string, options?: ErrorOptions) {
    super(message, 'ERR_INVALID_MANIFEST', options)
  }
}

/** A manifest declares a schema version this code does not understand. */
export class UnsupportedManifestVersionError extends DandelionError {
  override name = 'UnsupportedManifestVersionError'
  constructor(version: unknown) {
    super(`unsupported manifest version ${String(version)}`, 'ERR_UNSUPPORTED_MANIFEST_VERSION')
  }
}

/** A manifest's signature does not verify, or it was signed by an untrusted key. */
export class ManifestSignatureError extends DandelionError {
  override name = 'ManifestSignatureError'
  constructor(message: string) {
    super(message, 'ERR_MANIFEST_SIGNATURE')
  }
}

/** A configuration value is invalid. */
export class InvalidConfigError extends DandelionError {
  override name = 'InvalidConfigError'
  constructor(message: string) {
    super(message, 'ERR_INVALID_CONFIG')
  }
}

/** A scrub was asked of a node that does not scrub: no on-disk store of its own, or `scrub: false`. */
export class ScrubUnavailableError extends DandelionError {
  override name = 'ScrubUnavailableError'
  constructor() {
    super(
      'this node does not scrub: only a node with its own on-disk store (a data directory) does, unless scrubbing is off',
      'ERR_SCRUB_UNAVAILABLE',
    )
  }
}

/** The component is not started, or was stopped. */
export class NotStartedError extends DandelionError {
  override name = 'NotStartedError'
  constructor(what: string) {
    super(`${what} is not started`, 'ERR_NOT_STARTED')
  }
}

/** The chunk store began to stop: the write it was asked for (or waited to make) did not happen. */
export class StoreStoppedError extends DandelionError {
  override name = 'StoreStoppedError'
  constructor(message: string) {
    super(message, 'ERR_STORE_STOPPED')
  }
}
