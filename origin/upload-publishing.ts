/**
 * Publishing uploads whose every byte has arrived: once per upload at a time (the final
 * PATCH, a client's HEAD and the sweep may all find the same complete upload), its state
 * kept until its version is committed, so that a publishing that failed is retried by the
 * next HEAD, by the periodic sweep (backing off as `publish-retries.ts` says) or at the
 * next start.
 */
import { logger } from '@libp2p/logger'
import type { PublishedVersion } from './catalog.ts'
import type { ChunkingDataStore } from './chunking-store.ts'
import { ChecksumMismatchError } from './errors.ts'
import type { ChunkedFile, IngestMeta } from './ingest.ts'
import { parseUploadMetadata } from './metadata.ts'
import { PublishRetries } from './publish-retries.ts'

const log = logger('dandelion:origin:uploads')

/** tus upload metadata, as the data store keeps it. */
type UploadMetadata = Record<string, string | null> | undefined

/** What {@link UploadPublisher} uses. */
export interface UploadPublisherComponents {
  datastore: Pick<
    ChunkingDataStore,
    'forget' | 'remove' | 'finishStuckTail' | 'chunksOf' | 'completeUploads' | 'getUpload'
  >
  /** Publishes a complete upload's chunks as a new version, private if the upload is. */
  publish(
    file: ChunkedFile,
    meta: IngestMeta,
    upload: { id: string; private: boolean },
  ): Promise<PublishedVersion>
  /** The version an upload was published as, if it was. */
  published(uploadId: string): Promise<PublishedVersion | undefined>
}

/** See the module comment. */
export class UploadPublisher {
  private readonly c: UploadPublisherComponents
  /**
   * One publishing per upload at a time. Entries go when they settle, so the map holds at
   * most the publishings in progress.
   */
  private readonly publishing = new Map<string, Promise<PublishedVersion>>()
  private readonly retries = new PublishRetries()

  constructor(components: UploadPublisherComponents) {
    this.c = components
  }

  /** Whether `uploadId` is being published now. */
  has(uploadId: string): boolean {
    return this.publishing.has(uploadId)
  }

  /** Publishes a complete upload, or joins its publishing in progress. */
  finish(uploadId: string, metadata: UploadMetadata): Promise<PublishedVersion> {
    let running = this.publishing.get(uploadId)
    if (running === undefined) {
      running = this.publishOnce(uploadId, metadata).finally(() => this.publishing.delete(uploadId))
      this.publishing.set(uploadId, running)
    }
    return running
  }

  /** Publishes the complete uploads an earlier run left unpublished (it died before committing). */
  async recover(): Promise<PublishedVersion[]> {
    const { datastore } = this.c
    const published: PublishedVersion[] = []
    for (const id of await datastore.completeUploads()) {
      const upload = await datastore.getUpload(id)
      log('publishing upload %s left complete by an earlier run', id)
      try {
        published.push(await this.finish(id, upload.metadata))
      } catch (err) {
        log.error('publishing %s failed: %s', id, (err as Error).message)
      }
    }
    return published
  }

  /** Retries publishing the complete uploads whose publishing failed, those due by their backoff. */
  async retryUnpublished(): Promise<PublishedVersion[]> {
    const { datastore } = this.c
    const published: PublishedVersion[] = []
    const complete = await datastore.completeUploads()
    this.retries.keepOnly(complete)
    for (const id of complete) {
      if (!this.retries.due(id)) continue
      try {
        const upload = await datastore.getUpload(id)
        published.push(await this.finish(id, upload.metadata))
        this.retries.succeeded(id)
      } catch (err) {
        this.retries.failed(id, err as Error)
      }
    }
    return published
  }

  /** Resolves once no publishing is in progress (those started meanwhile included). */
  async settled(): Promise<void> {
    while (this.publishing.size > 0) await Promise.allSettled([...this.publishing.values()])
  }

  private async publishOnce(uploadId: string, metadata: UploadMetadata): Promise<PublishedVersion> {
    const { datastore } = this.c
    // published by an earlier attempt whose state removal did not happen or came later
    // (its metadata is gone with its state then)
    const done = await this.c.published(uploadId)
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
      const published = await this.c.publish({ chunks, size, chunkSize }, meta, {
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
}
