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
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import type { FastifyInstance } from 'fastify'
import { DEFAULT_CHUNK_SIZE_BYTES } from '../node/constants.ts'
import {
  type ContentType,
  checkChunkSize,
  decodeManifest,
  HashPool,
  type Manifest,
} from '../node/content/index.ts'
import { loadOrCreateKey } from '../node/keys.ts'
import { type ChunkStore, FsChunkStore } from '../node/store/index.ts'
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
import { type RetentionSweep, sweepRetention } from './retention.ts'
import { contentRoutes } from './routes/content.ts'
import { opsRoutes } from './routes/ops.ts'
import { versionRoutes } from './routes/versions.ts'
import { TrackerRegistrationStatus } from './tracker-status.ts'
import { freeDiskBytes, mountUploads } from './uploads.ts'
import { type RemovalCheck, type RemovedVersion, VersionRemoval } from './version-removal.ts'

export type { PublishedVersion, ResourceSummary } from './catalog.ts'
export type { RetentionSweep } from './retention.ts'
export type { TrackerRegistrationHealth, TrackerRegistrationState } from './tracker-status.ts'
export type { RemovalCheck, RemovedVersion } from './version-removal.ts'

const log = logger('dandelion:origin')

/** Options of {@link createOrigin}. */
export interface OriginInit {
  /** Directory for chunks, catalog, key and unfinished uploads. */
  dataDir: string
  /** Bearer token required for uploads; listings show private resources to it only. */
  token: string
  /**
   * PeerIds of the upload grant issuers to trust: a grant one of them signed lets a device
   * upload one file as one resource without the token (the rtc server's homework photos).
   */
  grantIssuers?: readonly string[]
  /** @default '127.0.0.1' */
  host?: string
  /** 0 picks a free port. @default 8080 */
  port?: number
  /** Chunk size of new versions: a power of two from 256 KiB to 4 MiB. @default 1 MiB */
  chunkSize?: number
  /** Largest upload accepted (413 beyond). @default 8 GiB */
  maxUploadBytes?: number
  /** Unfinished uploads expire after this long without progress (a PATCH that stored bytes). @default 24 h */
  uploadExpiryMs?: number
  /**
   * Uploads are refused with 507 when less disk than this is free; a PATCH in progress
   * stops there too (checked every 8 MiB), keeping what it stored. @default 256 MiB
   */
  minFreeDiskBytes?: number
  /** Signing key. @default loaded from (or created in) `<dataDir>/origin.key` */
  privateKey?: PrivateKey
  /** Hash worker threads. @default os.availableParallelism() */
  hashWorkers?: number
  /** fdatasync every chunk before it becomes visible. @default false */
  fsync?: boolean
  /**
   * Write ingested chunks with direct I/O (no copy into the page cache) where the file
   * system supports it. @default true
   */
  directIo?: boolean
  /** fastify (pino) request logging. @default false */
  logger?: boolean
  /** Free bytes on the data volume (a test can simulate a full disk). @default statfs of dataDir */
  freeDiskBytes?: () => Promise<number>
  /**
   * Private versions (homework photos uploaded with an upload grant) are removed this long
   * after they were published; 0 keeps them (`retention.ts`). @default 30 days
   */
  privateRetentionMs?: number
  /**
   * Public versions kept per resource, newest first: older ones are removed once the tracker
   * (a removal check, see {@link Origin.onRemoving}) agrees no node uses them. @default 0, every one kept
   */
  keepVersions?: number
  /**
   * How often the retention policy is applied; the first time one interval after the start,
   * so the removal checks added right after `createOrigin` apply to it. @default 1 hour
   */
  retentionSweepMs?: number
}

/** A running origin. */
export interface Origin {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string
  publicKey: PublicKey
  privateKey: PrivateKey
  /** The chunk store the origin seeds from. */
  store: ChunkStore
  /** The fastify app, for embedding more routes. */
  app: FastifyInstance
  /** Ingests a local file as a new version, as if it had been uploaded. */
  ingestFile(
    path: string,
    meta: { name: string; type: ContentType; mime?: string; sha256?: string; blake3?: string },
    options?: { signal?: AbortSignal },
  ): Promise<PublishedVersion>
  /**
   * Calls `listener` for each version published from now on, private ones (uploaded with an
   * upload grant) marked; returns an unsubscribe function.
   */
  onVersion(listener: (v: PublishedVersion) => void): () => void
  /** Every published version, private ones marked. */
  listVersions(): Promise<PublishedVersion[]>
  /**
   * Removes a version (`DELETE /resources/:name/versions/:version`): out of the catalog, and
   * its chunks that no other version or unfinished upload holds deleted, after every
   * {@link onRemoving} check passed.
   * @throws NotFoundError, or what a check threw (nothing is removed then)
   */
  removeVersion(name: string, version: number, options?: { signal?: AbortSignal }): Promise<RemovedVersion>
  /**
   * Adds a check run before each removal (the tracker registration asks the tracker whether
   * a node still uses the version); throwing refuses it. Returns a function that takes it off.
   */
  onRemoving(check: RemovalCheck): () => void
  /** Calls `listener` for each version removed from now on, before its chunks go. Returns an unsubscribe function. */
  onRemoved(listener: (v: PublishedVersion) => void): () => void
  /** Applies the retention policy now (the periodic sweep does it every `retentionSweepMs`). */
  sweepRetention(now?: number): Promise<RetentionSweep>
  /** A published manifest, decoded. */
  manifest(cid: string): Promise<Manifest>
  /**
   * How registering versions with the tracker goes (`registerWithTracker` keeps it up),
   * shown in `/healthz` and `/metrics`.
   */
  trackerRegistration: TrackerRegistrationStatus
  /** Stops accepting requests and closes the stores. */
  close(): Promise<void>
}

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
  const metrics = createMetrics(() => store.usage().bytes, trackerRegistration)
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
      freeDiskBytes: init.freeDiskBytes ?? (() => freeDiskBytes(uploadsDir)),
    },
    {
      dir: uploadsDir,
      chunkSize,
      window: pool.concurrency,
      token: init.token,
      grantIssuers: init.grantIssuers,
      maxUploadBytes: init.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
      expiryMs: init.uploadExpiryMs ?? DEFAULT_UPLOAD_EXPIRY_MS,
      minFreeDiskBytes: init.minFreeDiskBytes ?? DEFAULT_MIN_FREE_DISK_BYTES,
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
