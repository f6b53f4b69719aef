/**
 * The origin: takes resumable uploads (tus), cuts them into verified BLAKE3 chunks,
 * signs a manifest per version and serves manifests, chunks and previews over HTTP.
 *
 * ```ts
 * const origin = await createOrigin({ dataDir: './data', token: 'secret', port: 0 })
 * console.log(origin.url)
 * ```
 */

import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { DEFAULT_CHUNK_SIZE_BYTES } from '../node/constants.ts'
import { checkChunkSize, decodeManifest, HashPool } from '../node/content/index.ts'
import { loadOrCreateKey } from '../node/keys.ts'
import { FsChunkStore } from '../node/store/index.ts'
import { Catalog, type PublishedVersion } from './catalog.ts'
import type { ChunkWriter } from './chunk-writer.ts'
import {
  DEFAULT_HOST,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_MIN_FREE_DISK_BYTES,
  DEFAULT_PORT,
  DEFAULT_PRIVATE_RETENTION_MS,
  DEFAULT_UPLOAD_EXPIRY_MS,
  EXPIRY_SWEEP_INTERVAL_MS,
  FILE_INGEST_CHUNKS_PER_WORKER,
  FILE_INGEST_RUN_CHUNKS,
  MAX_CONCURRENT_INGESTS,
  MAX_QUEUED_INGESTS,
  RETENTION_SWEEP_INTERVAL_MS,
} from './constants.ts'
import { NotFoundError } from './errors.ts'
import { type IngestMeta, ingestFile, publish } from './ingest.ts'
import { IngestQueue } from './ingest-queue.ts'
import { mimeFor } from './metadata.ts'
import { createMetrics } from './metrics.ts'
import { createOriginApp } from './origin-app.ts'
import type { Origin, OriginInit } from './origin-types.ts'
import { type RetentionSweep, sweepRetention } from './retention.ts'
import { contentRoutes } from './routes/content.ts'
import { opsRoutes } from './routes/ops.ts'
import { versionRoutes } from './routes/versions.ts'
import { TrackerRegistrationStatus } from './tracker-status.ts'
import { freeDiskBytes, mountUploads } from './uploads.ts'
import { type RemovalCheck, type RemovedVersion, VersionRemoval } from './version-removal.ts'

export type { PublishedVersion, ResourceSummary } from './catalog.ts'
export type { Origin, OriginInit } from './origin-types.ts'
export type { RetentionSweep } from './retention.ts'
export type { TrackerRegistrationHealth, TrackerRegistrationState } from './tracker-status.ts'
export type { RemovalCheck, RemovedVersion } from './version-removal.ts'

const log = logger('dandelion:origin')

/** Starts an origin. */
export async function createOrigin(init: OriginInit): Promise<Origin> {
  const chunkSize = checkChunkSize(init.chunkSize ?? DEFAULT_CHUNK_SIZE_BYTES)
  const dataDir = init.dataDir
  const uploadsDir = join(dataDir, 'uploads')
  await mkdir(uploadsDir, { recursive: true })
  const privateKey = init.privateKey ?? (await loadOrCreateKey(join(dataDir, 'origin.key')))
  const pool = new HashPool({ size: init.hashWorkers })
  pool.start()
  const store = new FsChunkStore({
    dir: join(dataDir, 'store'),
    hasher: pool,
    fsync: init.fsync,
    directIo: init.directIo ?? true,
  })
  await store.start()
  const catalog = new Catalog(join(dataDir, 'catalog'))
  await catalog.open()
  const events = new EventEmitter<{ version: [PublishedVersion]; removed: [PublishedVersion] }>()
  const trackerRegistration = new TrackerRegistrationStatus()
  const readFreeDisk = init.freeDiskBytes ?? (() => freeDiskBytes(uploadsDir))
  const minFreeDiskBytes = init.minFreeDiskBytes ?? DEFAULT_MIN_FREE_DISK_BYTES
  const metrics = createMetrics(() => store.usage().bytes, trackerRegistration, {
    freeBytes: readFreeDisk,
    minFreeBytes: minFreeDiskBytes,
  })
  const queue = new IngestQueue({ concurrency: MAX_CONCURRENT_INGESTS, maxQueued: MAX_QUEUED_INGESTS })

  /** Runs a publishing job in the ingest queue with metrics and version events. */
  const track = (job: () => Promise<{ version: PublishedVersion }>): Promise<PublishedVersion> =>
    queue.run(async () => {
      const end = metrics.ingestSeconds.startTimer()
      try {
        const { version } = await job()
        metrics.versionsPublished.inc()
        metrics.ingestBytes.inc(version.size)
        try {
          events.emit('version', version)
        } catch (err) {
          log.error('a version listener threw: %s', (err as Error).message)
        }
        return version
      } catch (err) {
        metrics.ingestFailures.inc()
        throw err
      } finally {
        end()
      }
    })
  /** Writes in progress (PATCHes, file ingests): the chunks they stored are not pinned yet. */
  const writers = new Set<ChunkWriter>()
  const components = { store, catalog, privateKey, hashPool: pool, writers }
  const removalChecks = new Set<RemovalCheck>()
  const removal = new VersionRemoval({
    catalog,
    store,
    writers,
    checks: removalChecks,
    removed: (v) => {
      metrics.versionsRemoved.inc()
      events.emit('removed', v)
    },
  })
  // what a crash left of a removal is deleted before anything can pin those chunks again
  await removal
    .resume()
    .catch((err: Error) => log.error('finishing an interrupted version removal failed: %s', err.message))
  const removeVersion = async (
    name: string,
    version: number,
    options?: { signal?: AbortSignal },
  ): Promise<RemovedVersion> => {
    const done = await removal.remove(name, version, options)
    metrics.removedBytes.inc(done.bytesFreed)
    return done
  }

  const app = createOriginApp({ logger: init.logger })

  const uploads = mountUploads(
    app,
    {
      store,
      writers,
      publish: (file, meta, upload) =>
        track(() => publish(components, file, meta, { uploadId: upload.id, private: upload.private })),
      published: (uploadId) => catalog.byUpload(uploadId),
      freeDiskBytes: readFreeDisk,
    },
    {
      dir: uploadsDir,
      chunkSize,
      window: pool.concurrency,
      token: init.token,
      grantIssuers: init.grantIssuers,
      maxUploadBytes: init.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
      expiryMs: init.uploadExpiryMs ?? DEFAULT_UPLOAD_EXPIRY_MS,
      minFreeDiskBytes,
    },
  )
  uploads.tus.on('POST_CREATE', () => metrics.uploadsCreated.inc())
  contentRoutes(app, { store, catalog, metrics }, { token: init.token })
  versionRoutes(app, { removeVersion }, { token: init.token })
  opsRoutes(app, { registry: metrics.registry, store, trackerRegistration })

  // Uploads an earlier run received in full but did not publish are published now, before serving.
  const recovered = await uploads.recover()
  if (recovered.length > 0) log('recovered %d interrupted ingest(s)', recovered.length)
  const retentionPolicy = {
    privateRetentionMs: init.privateRetentionMs ?? DEFAULT_PRIVATE_RETENTION_MS,
    keepVersions: init.keepVersions ?? 0,
  }
  let retentionRun: Promise<RetentionSweep> | undefined
  const applyRetention = (now?: number): Promise<RetentionSweep> => {
    retentionRun ??= sweepRetention(
      { listVersions: () => catalog.allVersions(), removeVersion },
      retentionPolicy,
      now,
    ).finally(() => {
      retentionRun = undefined
    })
    return retentionRun
  }
  const retentionSweep = setInterval(() => {
    applyRetention().catch((err: Error) => log.error('retention sweep failed: %s', err.message))
  }, init.retentionSweepMs ?? RETENTION_SWEEP_INTERVAL_MS)
  retentionSweep.unref()
  const sweep = setInterval(() => {
    uploads
      .retryUnpublished()
      .catch((err: Error) => log.error('retrying unpublished uploads failed: %s', err.message))
      .then(() => uploads.sweepExpired())
      .catch((err: Error) => log.error('expiry sweep failed: %s', err.message))
  }, EXPIRY_SWEEP_INTERVAL_MS)
  sweep.unref()

  let address: string
  try {
    address = await app.listen({ host: init.host ?? DEFAULT_HOST, port: init.port ?? DEFAULT_PORT })
  } catch (err) {
    // a port already in use must not leave workers and open databases behind
    clearInterval(sweep)
    clearInterval(retentionSweep)
    await app.close().catch(() => {})
    await catalog.close()
    await store.stop()
    await pool.stop()
    throw err
  }
  const url = address.replace('[::1]', 'localhost')
  log('origin listening on %s', url)

  return {
    url,
    publicKey: privateKey.publicKey,
    privateKey,
    store,
    app,
    ingestFile: (path, meta, options = {}) => {
      const full: IngestMeta = { name: meta.name, type: meta.type, mime: meta.mime ?? mimeFor(path) }
      if (meta.sha256 !== undefined) full.sha256 = meta.sha256
      if (meta.blake3 !== undefined) full.blake3 = meta.blake3
      return track(() =>
        ingestFile(components, path, full, {
          chunkSize,
          runChunks: FILE_INGEST_RUN_CHUNKS,
          window: Math.max(1, pool.size * FILE_INGEST_CHUNKS_PER_WORKER),
          signal: options.signal,
        }),
      )
    },
    onVersion(listener) {
      events.on('version', listener)
      return () => events.off('version', listener)
    },
    listVersions: () => catalog.allVersions(),
    removeVersion,
    onRemoving(check) {
      removalChecks.add(check)
      return () => removalChecks.delete(check)
    },
    onRemoved(listener) {
      events.on('removed', listener)
      return () => events.off('removed', listener)
    },
    sweepRetention: applyRetention,
    trackerRegistration,
    async manifest(cid) {
      const bytes = await catalog.manifestBytes(cid)
      if (bytes === undefined) throw new NotFoundError(`manifest ${cid} not found`)
      return decodeManifest(bytes)
    },
    async close() {
      clearInterval(sweep)
      clearInterval(retentionSweep)
      await app.close()
      // a removal under way finishes before the stores close
      await retentionRun?.catch(() => {})
      // the uploads whose connections that cut save what they stored before the stores close
      await uploads.settled()
      await catalog.close()
      await store.stop()
      await pool.stop()
    },
  }
}
