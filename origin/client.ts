/**
 * Upload client: sends a file to an origin over tus (`tus-js-client`), resuming an
 * earlier interrupted upload of the same file (even from a killed process) through a
 * small JSON state file, and returns the published version.
 */
import { createReadStream, existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { basename, dirname } from 'node:path'
import * as tus from 'tus-js-client'
import type { ContentType } from '../node/content/index.ts'
import { DandelionError } from '../node/errors.ts'

/** Options of {@link uploadFile}. */
export interface UploadFileOptions {
  /** Origin base URL, e.g. `http://127.0.0.1:8080`. */
  origin: string
  token: string
  name: string
  type: ContentType
  mime?: string
  /** Whole-file checksum the origin must confirm before publishing. */
  sha256?: string
  blake3?: string
  /** Where upload URLs are remembered for resuming; no resume across processes without it. */
  stateFile?: string
  /**
   * Bytes per PATCH request. One PATCH for the whole file is fastest (measured: 262 MiB/s
   * vs 206 with 256 MiB PATCHes for 1 GiB) and loses little on a drop: the origin keeps
   * what it received, checkpointed every 32 MiB, and the next attempt resumes from there.
   * @default Infinity (the whole file)
   */
  chunkSize?: number
  /** Delays between retries of a failed request, ms. @default [0, 1000, 3000, 5000] */
  retryDelays?: number[]
  signal?: AbortSignal
  onProgress?(sent: number, total: number): void
  /** Called once the upload URL is known (so a caller may record it). */
  onUploadUrl?(url: string): void
}

/** What the origin published. */
export interface UploadResult {
  name: string
  version: number
  manifestCid: string
  /** The tus upload URL used. */
  uploadUrl: string
  /** True when an earlier, interrupted upload was resumed. */
  resumed: boolean
}

/** The upload failed; `status` is the HTTP status when the origin answered. */
export class UploadFailedError extends DandelionError {
  override name = 'UploadFailedError'
  readonly status?: number
  constructor(message: string, status?: number, options?: ErrorOptions) {
    super(message, 'ERR_UPLOAD_FAILED', options)
    this.status = status
  }
}

interface UrlStorageCtor {
  new (path: string): tus.UploadOptions['urlStorage']
}

/** Uploads `path` and resolves once the origin has ingested and published it. */
export async function uploadFile(path: string, options: UploadFileOptions): Promise<UploadResult> {
  options.signal?.throwIfAborted()
  let urlStorage: tus.UploadOptions['urlStorage'] | undefined
  if (options.stateFile !== undefined) {
    await mkdir(dirname(options.stateFile), { recursive: true })
    if (!existsSync(options.stateFile)) await writeFile(options.stateFile, '{}')
    const FileUrlStorage = (tus as unknown as { FileUrlStorage: UrlStorageCtor }).FileUrlStorage
    urlStorage = new FileUrlStorage(options.stateFile)
  }
  const metadata: Record<string, string> = {
    filename: basename(path),
    name: options.name,
    type: options.type,
  }
  if (options.mime !== undefined) metadata.mime = options.mime
  if (options.sha256 !== undefined) metadata.sha256 = options.sha256
  if (options.blake3 !== undefined) metadata.blake3 = options.blake3

  // an abort during the awaits above: the listener added below only sees later ones
  options.signal?.throwIfAborted()
  let onAbort: (() => void) | undefined
  return await new Promise<UploadResult>((resolve, reject) => {
    let resumed = false
    const upload = new tus.Upload(createReadStream(path), {
      endpoint: `${options.origin.replace(/\/$/, '')}/uploads`,
      headers: { Authorization: `Bearer ${options.token}` },
      metadata,
      chunkSize: options.chunkSize ?? Number.POSITIVE_INFINITY,
      retryDelays: options.retryDelays ?? [0, 1000, 3000, 5000],
      storeFingerprintForResuming: urlStorage !== undefined,
      removeFingerprintOnSuccess: true,
      ...(urlStorage !== undefined ? { urlStorage } : {}),
      onProgress: (sent, total) => options.onProgress?.(sent, total),
      onUploadUrlAvailable: () => {
        if (upload.url !== null) options.onUploadUrl?.(upload.url)
      },
      onError: (err) => {
        const status = (err as tus.DetailedError).originalResponse?.getStatus()
        const body = (err as tus.DetailedError).originalResponse?.getBody()
        // a HEAD has no body: the origin puts the cause of a 423 in a header
        const header = (err as tus.DetailedError).originalResponse?.getHeader('Dandelion-Error')
        let message = err.message
        try {
          if (header !== undefined) message = decodeURIComponent(header)
        } catch {}
        try {
          message = (JSON.parse(body ?? '') as { error: { message: string } }).error.message
        } catch {}
        reject(new UploadFailedError(message, status, { cause: err }))
      },
      onSuccess: ({ lastResponse }) => {
        const version = lastResponse.getHeader('Dandelion-Version')
        const manifestCid = lastResponse.getHeader('Dandelion-Manifest')
        if (version === undefined || manifestCid === undefined) {
          reject(
            new UploadFailedError(
              'the origin did not report a published version (the upload may already be published: GET /ingests/<id>)',
            ),
          )
          return
        }
        resolve({
          name: options.name,
          version: Number(version),
          manifestCid,
          uploadUrl: upload.url ?? '',
          resumed,
        })
      },
    })
    onAbort = () => {
      void upload.abort(false).finally(() => reject(options.signal?.reason))
    }
    options.signal?.addEventListener('abort', onAbort, { once: true })
    upload
      .findPreviousUploads()
      .then((previous) => {
        if (previous.length > 0) {
          resumed = true
          upload.resumeFromPreviousUpload(previous[0])
        }
        upload.start()
      })
      .catch(reject)
  }).finally(() => {
    // the caller's signal may outlive many uploads: a listener left on it would keep this
    // upload (and its file stream) reachable, and a later abort would act on a finished one
    if (onAbort !== undefined) options.signal?.removeEventListener('abort', onAbort)
  })
}
