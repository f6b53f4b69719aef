/**
 * tus 1.0 uploads at `/uploads` (core + creation, creation-with-upload, termination,
 * expiration), via `@tus/server` mounted in fastify, over a data store that chunks and
 * hashes PATCH bodies as they arrive (`chunking-store.ts`). When the last byte arrives
 * the version is published before the final response, whose headers carry the new
 * version and manifest CID.
 */
import { randomBytes } from 'node:crypto'
import { statfs } from 'node:fs/promises'
import { logger } from '@libp2p/logger'
import { Server as TusServer } from '@tus/server'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { bearerVerdict } from '../node/bearer.ts'
import type { ChunkStore } from '../node/store/index.ts'
import type { PublishedVersion } from './catalog.ts'
import { ChunkingDataStore } from './chunking-store.ts'
import { UPLOAD_ID_RE } from './constants.ts'
import {
  ChecksumMismatchError,
  ForbiddenError,
  HttpError,
  InsufficientStorageError,
  UnauthorizedError,
} from './errors.ts'
import type { ChunkedFile, IngestMeta } from './ingest.ts'
import { parseUploadMetadata } from './metadata.ts'

const log = logger('dandelion:origin:uploads')

/** What the upload service needs from the origin. */
export interface UploadsComponents {
  /** The chunk store uploads are written into. */
  store: ChunkStore
  /** Publishes a complete upload's chunks as a new version. */
  publish(file: ChunkedFile, meta: IngestMeta, uploadId: string): Promise<PublishedVersion>
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

/** Checks `Authorization: Bearer <token>`; throws 401 or 403. */
export function checkBearer(header: string | undefined, token: string): void {
  const verdict = bearerVerdict(header, token)
  if (verdict === 'missing') throw new UnauthorizedError()
  if (verdict === 'wrong') throw new ForbiddenError()
}

/** The tus data store plus the server; `recover()` re-ingests uploads a crash left finished but unpublished. */
export interface Uploads {
  datastore: ChunkingDataStore
  tus: TusServer
  /** Publishes complete uploads that an earlier run did not (it died before committing). */
  recover(): Promise<PublishedVersion[]>
  /** Removes expired unfinished uploads. */
  sweepExpired(): Promise<number>
}

/** Creates the tus server and mounts it at `/uploads` in `app`. */
export function mountUploads(
  app: FastifyInstance,
  components: UploadsComponents,
  init: UploadsInit,
): Uploads {
  const datastore = new ChunkingDataStore(
    { store: components.store },
    { dir: init.dir, chunkSize: init.chunkSize, window: init.window, expiryMs: init.expiryMs },
  )

  const checkSpace = async (): Promise<void> => {
    const free = await components.freeDiskBytes()
    if (free < init.minFreeDiskBytes) {
      throw new InsufficientStorageError(
        `only ${free} bytes free on the origin's disk (needs ${init.minFreeDiskBytes}); resume the upload once space is freed`,
      )
    }
  }

  const finish = async (uploadId: string, metadata: Record<string, string | null> | undefined) => {
    const meta = parseUploadMetadata(metadata)
    try {
      const { chunks, size } = await datastore.chunksOf(uploadId)
      const published = await components.publish({ chunks, size, chunkSize: init.chunkSize }, meta, uploadId)
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
    namingFunction: () => randomBytes(16).toString('hex'),
    // Only ids this origin issued are accepted, so no path can leave the upload directory.
    getFileIdFromRequest: (_req, lastPath) =>
      lastPath !== undefined && UPLOAD_ID_RE.test(lastPath) ? lastPath : undefined,
    onIncomingRequest: async (req) => {
      if (req.method === 'POST' || req.method === 'PATCH') await checkSpace()
    },
    onUploadCreate: async (_req, upload) => {
      // Unknown or invalid metadata is refused at creation, before any byte is stored.
      parseUploadMetadata(upload.metadata)
      return {}
    },
    onUploadFinish: async (_req, upload) => {
      const v = await finish(upload.id, upload.metadata)
      return {
        headers: {
          'Dandelion-Resource': encodeURIComponent(v.name),
          'Dandelion-Version': v.version,
          'Dandelion-Manifest': v.manifestCid,
        },
      }
    },
    onResponseError: (_req, err) => {
      if (err instanceof HttpError) return tusError(err)
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOSPC' || code === 'EDQUOT') {
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

  const handle = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (req.method !== 'OPTIONS') {
      try {
        checkBearer(req.headers.authorization, init.token)
      } catch (err) {
        const e = err as HttpError
        await reply
          .code(e.statusCode)
          .header('Tus-Resumable', '1.0.0')
          .send({ error: { code: e.code, message: e.message } })
        return
      }
    }
    reply.hijack()
    await tus.handle(req.raw, reply.raw)
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
    sweepExpired: () => tus.cleanUpExpiredUploads(),
  }
}
