/**
 * Removing a published version to get its disk back: the catalog forgets it (one batch),
 * the seeder leaves its swarm, and its chunks that nothing else holds are deleted.
 *
 * Before anything changes, every removal check the origin was given runs
 * ({@link VersionRemovalComponents.checks}): the tracker registration adds one asking the
 * tracker to mark the version removed, which the tracker refuses while a node runs it, a
 * release carries it or could roll back to it. A check that throws refuses the removal and
 * nothing is removed.
 *
 * A chunk is kept when another version or an unfinished upload pins it (the store keeps
 * pinned chunks), or when a write in progress stored it and has not pinned it yet (a PATCH,
 * a file ingest: {@link VersionRemovalComponents.writers}). A crash after the catalog's
 * batch leaves the manifest in the catalog's `removing` list: {@link VersionRemoval.resume}
 * deletes what is left at the next start.
 */
import { logger } from '@libp2p/logger'
import type { CID } from 'multiformats/cid'
import { decodeManifest } from '../node/content/index.ts'
import type { ChunkStore } from '../node/store/index.ts'
import type { Catalog, PublishedVersion } from './catalog.ts'
import type { ChunkWriter } from './chunk-writer.ts'
import { NotFoundError } from './errors.ts'

const log = logger('dandelion:origin:removal')

/** Runs before a version is removed; throwing refuses the removal (nothing changes). */
export type RemovalCheck = (v: PublishedVersion, options: { signal?: AbortSignal }) => Promise<void>

/** What a removal did. */
export interface RemovedVersion {
  version: PublishedVersion
  /** Chunks deleted from the store. */
  chunksDeleted: number
  /** Chunks kept: another version or an unfinished upload holds them. */
  chunksKept: number
  /** Bytes of chunk data deleted. */
  bytesFreed: number
}

/** What removals use. */
export interface VersionRemovalComponents {
  catalog: Catalog
  store: ChunkStore
  /** Writes in progress (uploads' PATCHes, file ingests): what they stored is not pinned yet. */
  writers: ReadonlySet<ChunkWriter>
  /** Checks run before each removal, in order. */
  checks: ReadonlySet<RemovalCheck>
  /** Told once a version is out of the catalog, before its chunks are deleted (the seeder leaves its swarm). */
  removed(v: PublishedVersion): void
}

/** Removes versions one at a time. */
export class VersionRemoval {
  private readonly c: VersionRemovalComponents
  private chain: Promise<unknown> = Promise.resolve()

  constructor(components: VersionRemovalComponents) {
    this.c = components
  }

  /**
   * Removes version `version` of `name`.
   * @throws NotFoundError when there is no such version
   * @throws what a removal check threw (the tracker refusing, or unreachable): nothing removed
   */
  remove(name: string, version: number, options: { signal?: AbortSignal } = {}): Promise<RemovedVersion> {
    const run = this.chain.then(async () => {
      const { catalog } = this.c
      const v = await catalog.version(name, version)
      if (v === undefined) throw new NotFoundError(`version ${version} of ${JSON.stringify(name)} not found`)
      for (const check of this.c.checks) await check(v, options)
      const gone = await catalog.remove(name, version)
      if (gone === undefined)
        throw new NotFoundError(`version ${version} of ${JSON.stringify(name)} not found`)
      try {
        this.c.removed(v)
      } catch (err) {
        log.error('a removal listener threw: %e', err)
      }
      const done = await this.deleteChunks(v.manifestCid, gone.manifestBytes)
      log('removed %s v%d: %d chunks deleted, %d kept', name, version, done.chunksDeleted, done.chunksKept)
      return { version: v, ...done }
    })
    this.chain = run.catch(() => {})
    return run
  }

  /** Deletes the chunks of removals a crash (or a failed delete) left unfinished. */
  async resume(): Promise<void> {
    for (const [cid, bytes] of await this.c.catalog.pendingRemovals()) {
      const done = await this.deleteChunks(cid, bytes)
      log('finished removing %s: %d chunks deleted, %d kept', cid, done.chunksDeleted, done.chunksKept)
    }
  }

  private async deleteChunks(
    manifestCid: string,
    manifestBytes: Uint8Array | undefined,
  ): Promise<Omit<RemovedVersion, 'version'>> {
    const { store, catalog } = this.c
    let chunksDeleted = 0
    let chunksKept = 0
    let bytesFreed = 0
    await store.unpin(manifestCid)
    if (manifestBytes !== undefined) {
      const m = decodeManifest(manifestBytes)
      const writing = new Set<string>()
      for (const w of this.c.writers) for (const c of w.cids) writing.add(c.toString())
      const seen = new Set<string>()
      for (const [i, cid] of m.chunks.entries()) {
        const key = cid.toString()
        if (seen.has(key)) continue
        seen.add(key)
        if (!writing.has(key) && (await store.delete(cid))) {
          chunksDeleted++
          bytesFreed += chunkLength(m.size, m.chunkSize, i)
        } else if (await store.has(cid)) chunksKept++
      }
      // the seeder's copy of the manifest, a block of its own
      await store.delete(m.cid as CID).catch(() => false)
    }
    await catalog.removalDone(manifestCid)
    return { chunksDeleted, chunksKept, bytesFreed }
  }
}

/** Length of chunk `index` of content of `size` bytes cut at `chunkSize`. */
function chunkLength(size: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, size - index * chunkSize)
}
