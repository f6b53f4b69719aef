/**
 * What a tus client is told about an upload whose every byte has arrived: the version it
 * was published as, in `Dandelion-*` headers, on the final PATCH and on any HEAD after it.
 */
import type { Logger } from '@libp2p/interface'
import { Metadata } from '@tus/utils'
import type { FastifyReply } from 'fastify'
import type { PublishedVersion } from './catalog.ts'
import type { ChunkingDataStore } from './chunking-store.ts'
import { HttpError } from './errors.ts'
import type { UploadPublisher } from './upload-publishing.ts'

/** The headers that name an upload's published version. */
export function versionHeaders(v: PublishedVersion): Record<string, string> {
  return {
    'Dandelion-Resource': encodeURIComponent(v.name),
    'Dandelion-Version': String(v.version),
    'Dandelion-Manifest': v.manifestCid,
  }
}

/** What {@link answerCompleteHead} reads and does. */
export interface CompleteHeadComponents {
  datastore: Pick<ChunkingDataStore, 'getUpload'>
  /** The version an upload was published as, if it was. */
  published(uploadId: string): Promise<PublishedVersion | undefined>
  /** Publishes a complete upload, or joins its publishing in progress. */
  finish: UploadPublisher['finish']
  log: Logger
}

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
export async function answerCompleteHead(
  components: CompleteHeadComponents,
  id: string,
  reply: FastifyReply,
): Promise<boolean> {
  const headers: Record<string, string> = {
    'Tus-Resumable': '1.0.0',
    // The Server MUST prevent the client and/or proxies from caching the response
    'Cache-Control': 'no-store',
  }
  const upload = await components.datastore.getUpload(id).catch(() => undefined)
  let v: PublishedVersion | undefined
  if (upload === undefined) {
    v = await components.published(id)
    if (v === undefined) return false
  } else {
    if (upload.size === undefined || upload.offset !== upload.size) return false
    try {
      v = await components.finish(id, upload.metadata)
    } catch (err) {
      const e = err instanceof HttpError ? err : undefined
      if (e !== undefined && e.statusCode < 500) {
        await reply.code(e.statusCode).headers(headers).send()
        return true
      }
      const message = `the upload is complete but not published yet (${(err as Error).message}); the origin retries, and resuming the upload retries now`
      components.log.error('publishing upload %s failed again: %s', id, (err as Error).message)
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
