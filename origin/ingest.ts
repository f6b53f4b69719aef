/**
 * Streaming ingest: a finished upload is read chunk by chunk, each chunk is hashed on
 * the worker pool and stored (verified) in the chunk store, then the signed manifest is
 * built and the version committed to the catalog in one batch. Memory stays bounded by
 * the pool's window of in-flight chunks, whatever the file size.
 */
import { createHash as createSha256 } from 'node:crypto'
import { open } from 'node:fs/promises'
import type { PrivateKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { createHash as createBlake3 } from 'blake3-wasm'
import type { CID } from 'multiformats/cid'
import { type ContentType, checkChunkSize, createManifest, type Manifest } from '../node/content/index.ts'
import type { ChunkStore } from '../node/store/index.ts'
import type { Catalog, PublishedVersion } from './catalog.ts'
import { ChecksumMismatchError } from './errors.ts'

const log = logger('dandelion:origin:ingest')

/** What an ingest needs. */
export interface IngestComponents {
  store: ChunkStore
  catalog: Catalog
  privateKey: PrivateKey
}

/** Describes the file being ingested. */
export interface IngestMeta {
  name: string
  type: ContentType
  mime: string
  /** Expected whole-file checksum, hex. */
  blake3?: string
  sha256?: string
}

/** Progress of one ingest. */
export interface IngestProgress {
  bytes: number
  chunks: number
}

/** Options of {@link ingestFile}. */
export interface IngestOptions {
  chunkSize: number
  /** Chunks in flight (read, hashing, writing) at once. */
  window: number
  /** The upload this file came from, so a re-run after a crash is recognised. */
  uploadId?: string
  signal?: AbortSignal
  onProgress?(progress: IngestProgress): void
}

/** Reads `path` as chunks of `chunkSize`, each in a buffer of its own (transferable). */
async function* readChunks(
  path: string,
  chunkSize: number,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r')
  try {
    let position = 0
    for (;;) {
      signal?.throwIfAborted()
      const buf = new Uint8Array(new ArrayBuffer(chunkSize))
      let filled = 0
      while (filled < chunkSize) {
        const { bytesRead } = await fh.read(buf, filled, chunkSize - filled, position + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) return
      position += filled
      yield filled === chunkSize ? buf : buf.slice(0, filled)
      if (filled < chunkSize) return
    }
  } finally {
    await fh.close()
  }
}

/**
 * Ingests the file at `path`: chunks, hashes and stores it, signs the manifest, pins
 * the chunks and commits the version. On a checksum mismatch nothing is published
 * and chunks no other version uses are removed.
 */
export async function ingestFile(
  components: IngestComponents,
  path: string,
  meta: IngestMeta,
  options: IngestOptions,
): Promise<{ version: PublishedVersion; manifest: Manifest }> {
  const { store, catalog, privateKey } = components
  checkChunkSize(options.chunkSize)
  const sha256 = meta.sha256 === undefined ? undefined : createSha256('sha256')
  const blake3 = meta.blake3 === undefined ? undefined : createBlake3()
  const chunks: CID[] = []
  const inflight: Array<Promise<CID>> = []
  let size = 0
  const started = performance.now()
  log('ingesting %s from %s', meta.name, path)
  try {
    for await (const chunk of readChunks(path, options.chunkSize, options.signal)) {
      // the whole-file checksums see the bytes before the store transfers them to a worker
      sha256?.update(chunk)
      blake3?.update(chunk)
      size += chunk.byteLength
      const p = store.add(chunk, { signal: options.signal })
      p.catch(() => {})
      inflight.push(p)
      if (inflight.length >= options.window) {
        chunks.push(await inflight.shift()!)
        options.onProgress?.({ bytes: size, chunks: chunks.length })
      }
    }
    while (inflight.length > 0) chunks.push(await inflight.shift()!)
  } catch (err) {
    await Promise.allSettled(inflight)
    throw err
  }
  if (sha256 !== undefined && sha256.digest('hex') !== meta.sha256) {
    await removeUnpinned(store, chunks)
    throw new ChecksumMismatchError('sha256')
  }
  if (blake3 !== undefined && (blake3.digest('hex') as string) !== meta.blake3) {
    await removeUnpinned(store, chunks)
    throw new ChecksumMismatchError('blake3')
  }
  const manifest = await createManifest(
    {
      name: meta.name,
      type: meta.type,
      mime: meta.mime,
      size,
      chunkSize: options.chunkSize,
      chunks,
      createdAt: Date.now(),
    },
    privateKey,
  )
  const manifestCid = manifest.cid.toString()
  // pin before the version becomes visible: a published version's chunks are never evicted
  await store.pin(manifestCid, chunks)
  const version = await catalog.commit(
    { name: meta.name, manifestCid, size, type: meta.type, mime: meta.mime, createdAt: manifest.createdAt },
    manifest.bytes,
    options.uploadId,
  )
  if (version.manifestCid !== manifestCid) await store.unpin(manifestCid) // an earlier run already published it
  const seconds = (performance.now() - started) / 1000
  log(
    'ingested %s v%d: %d bytes, %d chunks in %ss',
    meta.name,
    version.version,
    size,
    chunks.length,
    seconds.toFixed(2),
  )
  return { version, manifest }
}

async function removeUnpinned(store: ChunkStore, chunks: CID[]): Promise<void> {
  for (const cid of chunks) await store.delete(cid)
}
