/**
 * Publishing: turns stored chunks into a signed manifest and a committed version.
 * Uploads arrive already chunked (see `chunking-store.ts`); local files go through
 * {@link ingestFile}, which cuts, hashes and stores them the same way first.
 */
import { createHash as createSha256 } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { createHash as createBlake3 } from 'blake3-wasm'
import type { CID } from 'multiformats/cid'
import { type ContentType, createManifest, HashPool, type Manifest } from '../node/content/index.ts'
import type { ChunkStore } from '../node/store/index.ts'
import type { Catalog, PublishedVersion } from './catalog.ts'
import { ChunkWriter } from './chunk-writer.ts'
import { ChecksumMismatchError, MissingChunksError } from './errors.ts'

const log = logger('dandelion:origin:ingest')

/** What publishing needs. */
export interface IngestComponents {
  store: ChunkStore
  catalog: Catalog
  privateKey: PrivateKey
  /**
   * Reads and hashes a local file's chunks off the event loop.
   * @default reading and hashing on the calling thread
   */
  hashPool?: Pick<HashPool, 'readAndHash'>
  /**
   * Writes in progress: a file ingest's writer is in it until its version pins the chunks,
   * so a version removal leaves them alone. @default none kept
   */
  writers?: Set<ChunkWriter>
}

const inlineHashing = new HashPool({ size: 0 })

/** Describes the file being published. */
export interface IngestMeta {
  name: string
  type: ContentType
  mime: string
  /** Expected whole-file checksum, hex. */
  blake3?: string
  sha256?: string
}

/** The chunks of a complete file. */
export interface ChunkedFile {
  chunks: CID[]
  size: number
  chunkSize: number
}

/** Options of {@link publish}. */
export interface PublishOptions {
  /** The upload the chunks came from, so a re-run after a crash is recognised. */
  uploadId?: string
  /** The caller already checked the whole-file checksum. */
  checksumChecked?: boolean
  /**
   * Publish a private version (an upload made with an upload grant): unlisted, never
   * registered with the tracker. @default false
   */
  private?: boolean
  signal?: AbortSignal
}

/**
 * Checks the whole-file checksum (if one was given and not yet checked), signs the
 * manifest, pins the chunks, checks the store has every one of them and commits the
 * version in one batch. On a checksum mismatch nothing is published and chunks nothing
 * else pins are removed.
 * @throws MissingChunksError when a chunk is not in the store; nothing is committed
 */
export async function publish(
  components: IngestComponents,
  file: ChunkedFile,
  meta: IngestMeta,
  options: PublishOptions = {},
): Promise<{ version: PublishedVersion; manifest: Manifest }> {
  const { store, catalog, privateKey } = components
  await assertStored(store, file.chunks)
  if (options.checksumChecked !== true && (meta.sha256 !== undefined || meta.blake3 !== undefined)) {
    const sums = checksums(meta)
    for (const cid of file.chunks) sums.update(await store.get(cid, { signal: options.signal }))
    await sums.check(store, file.chunks)
  }
  const manifest = await createManifest(
    {
      name: meta.name,
      type: meta.type,
      mime: meta.mime,
      size: file.size,
      chunkSize: file.chunkSize,
      chunks: file.chunks,
      createdAt: Date.now(),
    },
    privateKey,
  )
  const manifestCid = manifest.cid.toString()
  // Pin before the version becomes visible: a published version's chunks are never
  // evicted. The on-disk store syncs a pin, which also makes the chunks' index entries
  // written before it durable, so a power cut cannot keep the catalog's (synced) commit
  // and lose them. Then look again: a chunk deleted just before the pin (with another
  // upload of the same bytes) would make a version that can never be served.
  await store.pin(manifestCid, file.chunks)
  try {
    await assertStored(store, file.chunks)
  } catch (err) {
    await store.unpin(manifestCid).catch(() => {})
    throw err
  }
  const version = await catalog.commit(
    {
      name: meta.name,
      manifestCid,
      size: file.size,
      type: meta.type,
      mime: meta.mime,
      createdAt: manifest.createdAt,
      ...(options.private === true ? { private: true as const } : {}),
    },
    manifest.bytes,
    options.uploadId,
  )
  if (version.manifestCid !== manifestCid) await store.unpin(manifestCid) // an earlier run published it
  log('published %s v%d: %d bytes in %d chunks', meta.name, version.version, file.size, file.chunks.length)
  return { version, manifest }
}

/** Options of {@link ingestFile}. */
export interface IngestFileOptions {
  chunkSize: number
  /** Consecutive chunks read, hashed and written by one request to the hash pool. */
  runChunks: number
  /** Chunks in flight (reading and hashing, writing) at once; the origin keeps `FILE_INGEST_CHUNKS_PER_WORKER` per hash worker. */
  window: number
  signal?: AbortSignal
}

/**
 * Cuts, hashes and stores a local file, then publishes it. A hash-pool worker reads a
 * run of consecutive chunks straight into the store's own buffer, hashes each, and
 * (when the store takes chunks in place) writes the run into the store with one write;
 * several runs are in flight at once, so the event loop only hands out buffers and
 * records CIDs, once per run.
 */
export async function ingestFile(
  components: IngestComponents,
  path: string,
  meta: IngestMeta,
  options: IngestFileOptions,
): Promise<{ version: PublishedVersion; manifest: Manifest }> {
  log('ingesting %s from %s', meta.name, path)
  const sums = checksums(meta)
  const writer = new ChunkWriter(components.store, { ...options, onChunk: (bytes) => sums.update(bytes) })
  components.writers?.add(writer)
  try {
    return await ingestWith(components, writer, path, meta, options, sums)
  } finally {
    components.writers?.delete(writer)
  }
}

async function ingestWith(
  components: IngestComponents,
  writer: ChunkWriter,
  path: string,
  meta: IngestMeta,
  options: IngestFileOptions,
  sums: ReturnType<typeof checksums>,
): Promise<{ version: PublishedVersion; manifest: Manifest }> {
  const hashPool = components.hashPool ?? inlineHashing
  const { chunkSize } = options
  const runBytes = chunkSize * Math.max(1, options.runChunks)
  const fh = await open(path, 'r')
  let size: number
  try {
    size = (await fh.stat()).size
    for (let position = 0; position < size; position += runBytes) {
      const lengths: number[] = []
      for (let at = position; at < Math.min(size, position + runBytes); at += chunkSize) {
        lengths.push(Math.min(chunkSize, size - at))
      }
      await writer.submitRead(lengths, (into, writeTo) =>
        hashPool.readAndHash(fh.fd, position, into, { chunkSize, writeTo, signal: options.signal }),
      )
    }
    await writer.drain()
  } finally {
    // every read has settled (drained, or failed and settled) before the file closes
    await writer.drain().catch(() => {})
    await fh.close()
  }
  const chunks = writer.cids
  await sums.check(components.store, chunks)
  return await publish(components, { chunks, size, chunkSize: options.chunkSize }, meta, {
    checksumChecked: true,
    signal: options.signal,
  })
}

/** @throws MissingChunksError naming the first of `chunks` the store does not have */
async function assertStored(store: ChunkStore, chunks: CID[]): Promise<void> {
  for (const [i, cid] of chunks.entries()) {
    if (!(await store.has(cid))) {
      throw new MissingChunksError(
        `chunk ${i + 1} of ${chunks.length} (${cid.toString()}) is not in the store; nothing was published`,
      )
    }
  }
}

/** Whole-file checksums requested in the metadata. */
function checksums(meta: IngestMeta): {
  update(bytes: Uint8Array): void
  check(store: ChunkStore, chunks: CID[]): Promise<void>
} {
  const sha256 = meta.sha256 === undefined ? undefined : createSha256('sha256')
  const blake3 = meta.blake3 === undefined ? undefined : createBlake3()
  return {
    update(bytes) {
      sha256?.update(bytes)
      blake3?.update(bytes)
    },
    async check(store, chunks) {
      let failed: string | undefined
      if (sha256 !== undefined && sha256.digest('hex') !== meta.sha256) failed = 'sha256'
      if (blake3 !== undefined && (blake3.digest('hex') as string) !== meta.blake3) failed = 'blake3'
      if (failed === undefined) return
      // nothing is published: remove the chunks no other version pins
      for (const cid of chunks) await store.delete(cid)
      throw new ChecksumMismatchError(failed)
    },
  }
}
