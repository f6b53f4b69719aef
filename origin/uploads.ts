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
 */
import { randomBytes } from 'node:crypto'
import { statfs } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { Server as TusServer } from '@tus/server'
import { Metadata } from '@tus/utils'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { bearerOf } from '../node/bearer.ts'
import type { ChunkStore } from '../node/store/index.ts'
import {
  grantUploadId,
  isUploadGrant,
  type UploadGrantClaims,
  UploadGrantVerifier,
} from '../node/upload-grant.ts'
import type { PublishedVersion } from './catalog.ts'
import { ChunkingDataStore } from './chunking-store.ts'
import {
  ChecksumMismatchError,
  GrantScopeError,
  GrantUploadFinishedError,
  GrantUsedError,
  HttpError,
  InsufficientStorageError,
  isDiskFullError,
  UploadNotResumableError,
} from './errors.ts'
import type { ChunkedFile, IngestMeta } from './ingest.ts'
import { parseUploadMetadata } from './metadata.ts'
import { PublishRetries } from './publish-retries.ts'
import { authorizeUpload, checkGrantScope, checkGrantUpload, uploadIdOf } from './upload-grants.ts'

const log = logger('dandelion:origin:uploads')

/** What the upload service needs from the origin. */
export interface UploadsComponents {
  /** The chunk store uploads are written into. */
  store: ChunkStore
  /** Publishes a complete upload's chunks as a new version, private if the upload is. */
  publish(
    file: ChunkedFile,
    meta: IngestMeta,
    upload: { id: string; private: boolean },
  ): Promise<PublishedVersion>
  /** The version an upload was published as, if it was. */
  published(uploadId: string): Promise<PublishedVersion | undefined>
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

  const grants = new UploadGrantVerifier(init.grantIssuers ?? [])
  /**
   * The upload grant of a request, read again from the request tus handles (`admit` read
   * fastify's, and the two may differ: a repeated header, the URL); undefined for another bearer.
   * @throws GrantScopeError when the grant does not verify (it expired since `admit`)
   */
  const grantOf = (req: Request): UploadGrantClaims | undefined => {
    const bearer = bearerOf(req.headers.get('authorization'))
    if (bearer === undefined || !isUploadGrant(bearer)) return undefined
    try {
      return grants.verify(bearer)
    } catch (err) {
      throw new GrantScopeError((err as Error).message)
    }
  }
  // uploads being created with a grant right now: a second POST of the same grant waits for nothing
  const creating = new Set<string>()
  // Ids tus is creating an upload under for a grant, as tus read it (`onUploadCreate`), until
  // the data store records the upload as private. At most one per entry of `creating`.
  const creatingPrivate = new Set<string>()

  const datastore = new ChunkingDataStore(
    {
      store: components.store,
      checkSpace,
      published: components.published,
      isPrivate: (id) => creatingPrivate.delete(id),
    },
    { dir: init.dir, chunkSize: init.chunkSize, window: init.window, expiryMs: init.expiryMs },
  )

  // One publishing per upload at a time: the final PATCH, a client's HEAD and the sweep
  // may all find the same complete upload. Entries go when they settle, so the map holds
  // at most the publishings in progress.
  const publishing = new Map<string, Promise<PublishedVersion>>()
  const finish = (uploadId: string, metadata: Record<string, string | null> | undefined) => {
    let running = publishing.get(uploadId)
    if (running === undefined) {
      running = publishOnce(uploadId, metadata).finally(() => publishing.delete(uploadId))
      publishing.set(uploadId, running)
    }
    return running
  }
  const publishOnce = async (
    uploadId: string,
    metadata: Record<string, string | null> | undefined,
  ): Promise<PublishedVersion> => {
    // published by an earlier attempt whose state removal did not happen or came later
    // (its metadata is gone with its state then)
    const done = await components.published(uploadId)
    if (done !== undefined) {
      await datastore.forget(uploadId)
      return done
    }
    const meta = parseUploadMetadata(metadata)
    try {
      // an older origin's stuck upload: its last chunk is stored first, so every retry of
      // publishing (this start, the client's HEAD, the sweep) retries that too
      await datastore.finishStuckTail(uploadId)
      // in the upload's own chunk size: the origin may have been restarted with another since
      const { chunks, size, chunkSize, private: isPrivate } = await datastore.chunksOf(uploadId)
      const published = await components.publish({ chunks, size, chunkSize }, meta, {
        id: uploadId,
        private: isPrivate,
      })
      // the upload's state goes only once its version is committed
      await datastore.forget(uploadId)
      return published
    } catch (err) {
      if (err instanceof ChecksumMismatchError) {
        // the upload is failed for good: drop it so a retry does not look finished
        await datastore.remove(uploadId).catch(() => {})
      }
      throw err
    }
  }

  const tus = new TusServer({
    path: '/uploads',
    datastore,
    maxSize: init.maxUploadBytes,
    respectForwardedHeaders: false,
    // an upload created with a grant gets the grant's id: one upload per grant
    namingFunction: (req) => {
      const claims = grantOf(req)
      return claims === undefined ? randomBytes(16).toString('hex') : grantUploadId(claims.jti)
    },
    // Read from the request target as `admit` read it, never from the query string (tus's
    // default reading does). Only ids this origin issued are accepted, so no path can leave the
    // upload directory.
    getFileIdFromRequest: (req) => {
      const id = uploadIdOf(req.runtime?.node?.req.url ?? req.url)
      // `admit` checked the path; this is the id tus acts on, so check that one too
      const claims = grantOf(req)
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
      const claims = grantOf(req)
      if (claims !== undefined) {
        checkGrantUpload(claims, upload)
        // what a device uploads with a grant (a child's homework photo) is nobody else's to list
        creatingPrivate.add(upload.id)
      }
      return {}
    },
    onUploadFinish: async (_req, upload) => {
      try {
        return { headers: versionHeaders(await finish(upload.id, upload.metadata)) }
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

  const versionHeaders = (v: PublishedVersion): Record<string, string> => ({
    'Dandelion-Resource': encodeURIComponent(v.name),
    'Dandelion-Version': String(v.version),
    'Dandelion-Manifest': v.manifestCid,
  })

  /**
   * Answers a HEAD on an upload whose every byte has arrived. A tus client whose last
   * PATCH failed resumes with a HEAD and, on `Upload-Offset == Upload-Length`, reports
   * success without another PATCH; on any other status but 423 it starts the upload
   * again from byte 0. So the upload is published first and the answer carries the
   * version; a transient failure is a 423 (the client retries the HEAD) with the cause
   * in `Dandelion-Error`. An upload already published is reported as complete, with its
   * version, so a client rerun after an error learns it instead of uploading again.
   * Returns false for uploads still receiving bytes, or unknown: tus answers those.
   */
  const headComplete = async (id: string, reply: FastifyReply): Promise<boolean> => {
    const headers: Record<string, string> = {
      'Tus-Resumable': '1.0.0',
      // The Server MUST prevent the client and/or proxies from caching the response
      'Cache-Control': 'no-store',
    }
    const upload = await datastore.getUpload(id).catch(() => undefined)
    let v: PublishedVersion | undefined
    if (upload === undefined) {
      v = await components.published(id)
      if (v === undefined) return false
    } else {
      if (upload.size === undefined || upload.offset !== upload.size) return false
      try {
        v = await finish(id, upload.metadata)
      } catch (err) {
        const e = err instanceof HttpError ? err : undefined
        if (e !== undefined && e.statusCode < 500) {
          await reply.code(e.statusCode).headers(headers).send()
          return true
        }
        const message = `the upload is complete but not published yet (${(err as Error).message}); the origin retries, and resuming the upload retries now`
        log.error('publishing upload %s failed again: %s', id, (err as Error).message)
        headers['Dandelion-Error'] = encodeURIComponent(message)
        await reply.code(423).headers(headers).send()
        return true
      }
      if (upload.metadata !== undefined) headers['Upload-Metadata'] = Metadata.stringify(upload.metadata)
    }
    // The Server MUST always include the Upload-Offset header in the response for a HEAD
    // request [and] the Upload-Length header [when the length is known]
    headers['Upload-Offset'] = String(v.size)
    headers['Upload-Length'] = String(v.size)
    await reply
      .code(200)
      .headers({ ...headers, ...versionHeaders(v) })
      .send()
    return true
  }

  const uploadExists = async (id: string): Promise<boolean> =>
    (await datastore.getUpload(id).then(
      () => true,
      // there, if not resumable: its grant holder terminates it and creates it again
      (err: unknown) => err instanceof UploadNotResumableError,
    )) || (await components.published(id)) !== undefined
  /**
   * A grant may start its upload over (a lamp that restarted took a new photo, whose bytes must
   * not be appended to the old one's) but never undo it: only an upload still missing bytes,
   * not being published, may be terminated with a grant. An unknown one is left to tus (404).
   */
  const checkGrantTermination = async (id: string): Promise<void> => {
    const upload = await datastore.getUpload(id).catch(() => undefined)
    const finished =
      upload === undefined
        ? (await components.published(id)) !== undefined
        : publishing.has(id) || upload.size === undefined || upload.offset >= upload.size
    if (finished) throw new GrantUploadFinishedError(id)
  }
  const header = (req: FastifyRequest, name: string): string | undefined => {
    const v = req.headers[name]
    return Array.isArray(v) ? v.join(',') : v
  }

  /** Checks the bearer (and a grant's scope); returns the grant upload id a POST creates, if any. */
  const admit = async (req: FastifyRequest): Promise<string | undefined> => {
    const auth = authorizeUpload(req.headers.authorization, init.token, grants)
    if (auth.kind === 'token') return undefined
    const request = { method: req.method, url: req.url, header: (n: string) => header(req, n) }
    if (req.method !== 'POST') {
      await checkGrantScope(request, auth, uploadExists)
      if (req.method === 'DELETE') await checkGrantTermination(auth.uploadId)
      return undefined
    }
    // Reserved before the (awaited) check that no upload has this id yet: a second POST of
    // the grant is refused here while the first is being checked or created, and finds the
    // upload once the first is done. Checked after, a first POST could finish creating
    // between the second's look and its creation.
    if (creating.has(auth.uploadId)) throw new GrantUsedError(auth.uploadId)
    creating.add(auth.uploadId)
    try {
      await checkGrantScope(request, auth, uploadExists)
    } catch (err) {
      creating.delete(auth.uploadId)
      throw err
    }
    return auth.uploadId
  }

  const handle = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    let creatingId: string | undefined
    if (req.method !== 'OPTIONS') {
      try {
        creatingId = await admit(req)
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
        if (id !== undefined && (await headComplete(id, reply))) return
      }
      reply.hijack()
      await tus.handle(req.raw, reply.raw)
    } finally {
      if (creatingId !== undefined) {
        creating.delete(creatingId)
        // left over when tus failed between `onUploadCreate` and creating the upload
        creatingPrivate.delete(creatingId)
      }
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

  const retries = new PublishRetries()

  return {
    datastore,
    tus,
    async recover() {
      const published: PublishedVersion[] = []
      for (const id of await datastore.completeUploads()) {
        const upload = await datastore.getUpload(id)
        log('publishing upload %s left complete by an earlier run', id)
        try {
          published.push(await finish(id, upload.metadata))
        } catch (err) {
          log.error('publishing %s failed: %s', id, (err as Error).message)
        }
      }
      return published
    },
    async retryUnpublished() {
      const published: PublishedVersion[] = []
      const complete = await datastore.completeUploads()
      retries.keepOnly(complete)
      for (const id of complete) {
        if (!retries.due(id)) continue
        try {
          const upload = await datastore.getUpload(id)
          published.push(await finish(id, upload.metadata))
          retries.succeeded(id)
        } catch (err) {
          retries.failed(id, err as Error)
        }
      }
      return published
    },
    sweepExpired: () => tus.cleanUpExpiredUploads(),
    async settled() {
      await datastore.idle()
      while (publishing.size > 0) await Promise.allSettled([...publishing.values()])
    },
  }
}
