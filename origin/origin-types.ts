/**
 * The origin's public types: what {@link createOrigin} takes ({@link OriginInit}) and what
 * it returns ({@link Origin}). `index.ts` builds it.
 */
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import type { FastifyInstance } from 'fastify'
import type { ContentType, Manifest } from '../node/content/index.ts'
import type { ChunkStore } from '../node/store/index.ts'
import type { PublishedVersion } from './catalog.ts'
import type { RetentionSweep } from './retention.ts'
import type { TrackerRegistrationStatus } from './tracker-status.ts'
import type { RemovalCheck, RemovedVersion } from './version-removal.ts'

/** Options of `createOrigin`. */
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
