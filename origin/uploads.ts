/**
 * tus 1.0 uploads at `/uploads` (core + creation, creation-with-upload, termination,
 * expiration), via `@tus/server` mounted in fastify, over a data store that chunks and
 * hashes PATCH bodies as they arrive (`chunking-store.ts`). When the last byte arrives
 * the version is published before the final response, whose headers carry the new
 * version and manifest CID. If publishing fails there (ingest queue full, a store
 * error), the upload stays complete on disk and is published by the client's next HEAD
 * (a tus client resumes with a HEAD after a failed PATCH) or by the periodic sweep.
 * An upload created with an upload grant is private from its creation on (its state says
 * so), and is published as a private version. A grant's second creation is refused with a
 * `Location` naming its upload, which the grant holder may HEAD (finished: the version) or,
 * while bytes are missing, DELETE and create again (a lamp that restarted mid-upload).
 *
 * Here tus is mounted and wired; who may act on an upload is `upload-admission.ts`,
 * publishing complete uploads `upload-publishing.ts`, and what a client is told about one
 * `complete-upload-head.ts`.
 */
import { randomBytes } from 'node:crypto'
import { statfs } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { Server as TusServer } from '@tus/server'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ChunkStore } from '../node/store/index.ts'
import { grantUploadId } from '../node/upload-grant.ts'
import type { PublishedVersion } from './catalog.ts'
import type { ChunkWriter } from './chunk-writer.ts'
import { ChunkingDataStore } from './chunking-store.ts'
import { answerCompleteHead, type CompleteHeadComponents, versionHeaders } from './complete-upload-head.ts'
import {
  GrantScopeError,
  GrantUsedError,
  HttpError,
  InsufficientStorageError,
  isDiskFullError,
} from './errors.ts'
import { parseUploadMetadata } from './metadata.ts'
import { UploadAdmission } from './upload-admission.ts'
import { checkGrantUpload, uploadIdOf } from './upload-grants.ts'
import { UploadPublisher, type UploadPublisherComponents } from './upload-publishing.ts'

const log = logger('dandelion:origin:uploads')

/** What the upload service needs from the origin. */
export interface UploadsComponents extends Pick<UploadPublisherComponents, 'publish' | 'published'> {
  /** The chunk store uploads are written into. */
  store: ChunkStore
  /** Writes in progress, shared with the origin's file ingests and version removals. */
  writers?: Set<ChunkWriter>
  /** Free bytes on the data volume. */
  freeDiskBytes(): Promise<number>
}

/** Options of the upload service. */
export interface UploadsInit {
  /** Directory of unfinished uploads. */
  dir: string
  chunkSize: number
  /** Chunks in flight per PATCH. */
  window: number
  token: string
  /** PeerIds of the upload grant issuers trusted (e.g. the rtc server, for homework photos). */
  grantIssuers?: readonly string[]
  maxUploadBytes: number
  expiryMs: number
  minFreeDiskBytes: number
}

/** Free bytes on the volume holding `dir`. */
export async function freeDiskBytes(dir: string): Promise<number> {
  const s = await statfs(dir)
  return s.bavail * s.bsize
}

function tusError(err: HttpError): { status_code: number; body: string } {
  return {
    status_code: err.statusCode,
    body: JSON.stringify({ error: { code: err.code, message: err.message } }),
  }
}

/** The tus data store plus the server; `recover()` re-ingests uploads a crash left finished but unpublished. */
export interface Uploads {
  datastore: ChunkingDataStore
  tus: TusServer
  /**
   * Publishes complete uploads that an earlier run did not (it died before committing), those
   * an origin before 6914649 left stuck included (their last chunk is stored first).
   */
  recover(): Promise<PublishedVersion[]>
  /**
   * Run by the periodic sweep: retries publishing complete uploads whose publishing
   * failed (storing a stuck upload's last chunk included), backing off as
   * `publish-retries.ts` says.
   */
  retryUnpublished(): Promise<PublishedVersion[]>
  /** Removes expired unfinished uploads. */
  sweepExpired(): Promise<number>
  /**
   * Waits for the data store's writes and the publishings in progress to settle, once the
   * server has stopped and ended their connections, so the stores can close.
   */
  settled(): Promise<void>
}

/** Creates the tus server and mounts it at `/uploads` in `app`. */
export function mountUploads(
  app: FastifyInstance,
  components: UploadsComponents,
  init: UploadsInit,
): Uploads {
  const checkSpace = async (): Promise<void> => {
    const free = await components.freeDiskBytes()
    if (free < init.minFreeDiskBytes) {
      throw new InsufficientStorageError(
        `only ${free} bytes free on the origin's disk (needs ${init.minFreeDiskBytes}); resume the upload once space is freed`,
      )
    }
  }

  const datastore = new ChunkingDataStore(
    {
      store: components.store,
      writers: components.writers,
      checkSpace,
      published: components.published,
      isPrivate: (id) => admission.takePrivate(id),
    },
    { dir: init.dir, chunkSize: init.chunkSize, window: init.window, expiryMs: init.expiryMs },
  )

  const publisher = new UploadPublisher({
    datastore,
    publish: (file, meta, upload) => components.publish(file, meta, upload),
    published: components.published,
  })
  const admission = new UploadAdmission(
    {
      datastore,
      published: components.published,
      publishing: (id) => publisher.has(id),
    },
    { token: init.token, grantIssuers: init.grantIssuers },
  )

  const tus = new TusServer({
    path: '/uploads',
    datastore,
    maxSize: init.maxUploadBytes,
    respectForwardedHeaders: false,
    // an upload created with a grant gets the grant's id: one upload per grant
    namingFunction: (req) => {
      const claims = admission.grantOf(req)
      return claims === undefined ? randomBytes(16).toString('hex') : grantUploadId(claims.jti)
    },
    // Read from the request target as `admit` read it, never from the query string (tus's
    // default reading does). Only ids this origin issued are accepted, so no path can leave the
    // upload directory.
    getFileIdFromRequest: (req) => {
      const id = uploadIdOf(req.runtime?.node?.req.url ?? req.url)
      // `admit` checked the path; this is the id tus acts on, so check that one too
      const claims = admission.grantOf(req)
      if (claims !== undefined && id !== grantUploadId(claims.jti))
        throw new GrantScopeError('an upload grant reaches only the upload it created')
      return id
    },
    onIncomingRequest: async (req) => {
      if (req.method === 'POST' || req.method === 'PATCH') await checkSpace()
    },
    onUploadCreate: async (req, upload) => {
      // Unknown or invalid metadata is refused at creation, before any byte is stored.
      parseUploadMetadata(upload.metadata)
      // and so is anything beyond a grant, as tus read the request (`admit` checked fastify's reading)
      const claims = admission.grantOf(req)
      if (claims !== undefined) {
        checkGrantUpload(claims, upload)
        // what a device uploads with a grant (a child's homework photo) is nobody else's to list
        admission.creatingWithGrant(upload.id)
      }
      return {}
    },
    onUploadFinish: async (_req, upload) => {
      try {
        return { headers: versionHeaders(await publisher.finish(upload.id, upload.metadata)) }
      } catch (err) {
        if (!(err instanceof HttpError) || err.statusCode >= 500) {
          log.error(
            'upload %s is complete but publishing it failed; its next HEAD or the sweep retries: %s',
            upload.id,
            (err as Error).message,
          )
        }
        throw err
      }
    },
    onResponseError: (_req, err) => {
      if (err instanceof HttpError) return tusError(err)
      if (isDiskFullError(err)) {
        return tusError(
          new InsufficientStorageError(
            'the origin ran out of disk space; resume the upload once space is freed',
          ),
        )
      }
      if (err instanceof Error) log.error('upload failed: %s', err.stack ?? err.message)
      return undefined
    },
  })

  const headComponents: CompleteHeadComponents = {
    datastore,
    published: components.published,
    finish: (id, metadata) => publisher.finish(id, metadata),
    log,
  }
  const handle = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    let creatingId: string | undefined
    if (req.method !== 'OPTIONS') {
      try {
        creatingId = await admission.admit(req)
      } catch (err) {
        if (!(err instanceof HttpError)) throw err
        reply.code(err.statusCode).header('Tus-Resumable', '1.0.0')
        // The grant's own upload, for its holder (who can derive the id from the grant anyway).
        // RFC 9110 §10.2.2: Location = URI-reference, resolved against the request's target.
        if (err instanceof GrantUsedError) reply.header('Location', `/uploads/${err.uploadId}`)
        await reply.send({ error: { code: err.code, message: err.message } })
        return
      }
    }
    try {
      if (req.method === 'HEAD') {
        const id = uploadIdOf(req.url)
        if (id !== undefined && (await answerCompleteHead(headComponents, id, reply))) return
      }
      reply.hijack()
      await tus.handle(req.raw, reply.raw)
    } finally {
      if (creatingId !== undefined) admission.release(creatingId)
    }
  }

  // tus PATCH bodies are streamed by tus itself: fastify must leave them unread.
  app.addContentTypeParser('application/offset+octet-stream', (_req, _payload, done) => done(null))
  app.route({
    method: ['POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS', 'GET'],
    url: '/uploads',
    handler: handle,
  })
  app.route({
    method: ['POST', 'HEAD', 'PATCH', 'DELETE', 'OPTIONS', 'GET'],
    url: '/uploads/*',
    handler: handle,
  })

  return {
    datastore,
    tus,
    recover: () => publisher.recover(),
    retryUnpublished: () => publisher.retryUnpublished(),
    sweepExpired: () => tus.cleanUpExpiredUploads(),
    async settled() {
      await datastore.idle()
      await publisher.settled()
    },
  }
}
