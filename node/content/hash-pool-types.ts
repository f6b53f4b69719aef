/**
 * The public shapes of the hash pool: its options, and what `HashPool.readAndHash` takes
 * and returns. The implementation is `hash-pool.ts`.
 */
import type { Blake3Implementation } from './blake3.ts'

/** Options of {@link HashPool}. */
export interface HashPoolInit {
  /**
   * Worker threads to start.
   * @default os.availableParallelism()
   */
  size?: number
  /**
   * Start the workers at the first hash rather than at {@link HashPool.start}, and stop
   * them after this many milliseconds without work: a daemon that only seeds (most of
   * its day) holds no worker isolate (about 20 MB of RSS each, measured).
   * @default workers run from start to stop
   */
  idleMs?: number
  /**
   * The BLAKE3 the workers hash with (`size: 0` always uses the process's own).
   * @default the process's: {@link blake3Implementation}
   */
  blake3?: Blake3Implementation
}

/** Where {@link HashPool.readAndHash} writes the bytes it hashed: an open file and an offset. */
export interface WriteTarget {
  fd: number
  position: number
}

/** Options of {@link HashPool.readAndHash}. */
export interface ReadAndHashOptions {
  /**
   * Hash the bytes as consecutive chunks of this size (the last may be shorter), each
   * on its own.
   * @default one chunk: all of `into`
   */
  chunkSize?: number
  /** Also write the bytes read here, after hashing them (on the same worker, in one write). */
  writeTo?: WriteTarget
  signal?: AbortSignal
}

/** What {@link HashPool.readAndHash} read: a view of its buffer, and each chunk's digest. */
export interface ReadAndHashResult {
  bytes: Uint8Array
  digests: Uint8Array[]
}
