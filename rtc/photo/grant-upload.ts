/**
 * What a lamp does when its upload grant was used already: the origin refuses a second creation
 * with 409 `ERR_GRANT_USED` and a `Location` naming the grant's one upload. That happens when the
 * lamp restarted (power cut, crash, new process) and got the same control again, mid-upload or
 * after uploading but before its ACK, or when a creation's answer was lost and tus-js-client
 * created again. The lamp looks at that upload (HEAD):
 *
 * - published: the photo this grant made is the answer, whichever run of the lamp took it;
 * - unfinished: it is terminated (DELETE) and created again with the photo in hand. Never
 *   resumed: a restarted lamp has a new photo (other bytes, another size), and sending its bytes
 *   after the old photo's first ones would publish a splice of the two. Only a lamp that still
 *   has the very bytes may resume, which tus-js-client does within one upload.
 *
 * The origin lets a grant terminate only an unfinished upload, so this never undoes a photo.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type * as tus from 'tus-js-client'
import { PhotoGrantUsedError, PhotoUploadError } from './errors.ts'

/** Where a published photo is served: what the lamp ACKs with. */
export function contentUrl(origin: string, resourceHeader: string, version: string): string {
  const name = decodeURIComponent(resourceHeader)
  return `${origin}/resources/${encodeURIComponent(name)}/versions/${version}/content`
}

/** The code of an origin's error body, `{ "error": { "code", "message" } }`. */
function errorCode(body: string): unknown {
  try {
    return (JSON.parse(body) as { error?: { code?: unknown } }).error?.code
  } catch {
    return undefined
  }
}

/** The origin's 409 `ERR_GRANT_USED`, read off a failed tus request. */
function grantUsed(err: tus.DetailedError | Error): { location: string | undefined } | undefined {
  const res = 'originalResponse' in err ? err.originalResponse : null
  if (res === null || res.getStatus() !== 409 || errorCode(res.getBody()) !== 'ERR_GRANT_USED')
    return undefined
  return { location: res.getHeader('Location') }
}

/**
 * The error for a failed tus upload to `endpoint`: {@link PhotoGrantUsedError} when the grant's
 * upload exists and the origin says where, on the origin itself: the grant is a bearer, sent
 * nowhere else.
 */
export function uploadError(err: tus.DetailedError | Error, endpoint: string): PhotoUploadError {
  const used = grantUsed(err)
  if (used?.location === undefined) return new PhotoUploadError(err.message)
  const url = URL.parse(used.location, endpoint)
  if (url === null || url.origin !== new URL(endpoint).origin)
    return new PhotoUploadError(`${err.message}; the origin named an upload elsewhere: ${used.location}`)
  return new PhotoGrantUsedError(url.href, err.message)
}

/** tus-js-client's own rule (no answer, 5xx, 409, 423), except that a used grant stays used. */
export function shouldRetry(err: tus.DetailedError): boolean {
  if (grantUsed(err) !== undefined) return false
  const status = err.originalResponse?.getStatus() ?? 0
  return status < 400 || status >= 500 || status === 409 || status === 423
}

/** What became of a grant's upload. */
export type GrantUploadState = { kind: 'published'; url: string } | { kind: 'unfinished' } | { kind: 'gone' }

/** How requests on a grant's upload are made. */
export interface GrantUploadRequestInit {
  /** Origin base URL: the published photo's URL is made with it. */
  origin: string
  /** The upload grant. */
  token: string
  /** Delays before each retry of a request that got no answer, a 423 or a 5xx. */
  retryDelays: readonly number[]
}

/** One request on the grant's upload, retried while the origin is away or busy. */
async function request(
  init: GrantUploadRequestInit,
  method: 'HEAD' | 'DELETE',
  url: string,
  signal: AbortSignal | undefined,
): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    let failure: string
    try {
      const res = await fetch(url, {
        method,
        // The Tus-Resumable header MUST be included in every request and response except for
        // OPTIONS requests
        headers: { 'Tus-Resumable': '1.0.0', authorization: `Bearer ${init.token}` },
        signal,
      })
      if (res.status !== 423 && res.status < 500) return res
      await res.body?.cancel()
      const why = res.headers.get('Dandelion-Error')
      failure = `HTTP ${res.status}${why === null ? '' : `: ${decodeURIComponent(why)}`}`
    } catch (err) {
      signal?.throwIfAborted()
      failure = (err as Error).message
    }
    const delay = init.retryDelays[attempt]
    if (delay === undefined) throw new PhotoUploadError(`${method} of the grant's upload failed: ${failure}`)
    await sleep(delay, undefined, { signal })
  }
}

/**
 * Looks at the upload a grant made: published (with the photo's URL), unfinished, or gone
 * (expired or terminated since the origin named it).
 * @throws PhotoUploadError when the origin does not say
 */
export async function inspectGrantUpload(
  init: GrantUploadRequestInit,
  uploadUrl: string,
  options: { signal?: AbortSignal } = {},
): Promise<GrantUploadState> {
  const res = await request(init, 'HEAD', uploadUrl, options.signal)
  if (res.status === 404 || res.status === 410) return { kind: 'gone' }
  if (res.status !== 200) throw new PhotoUploadError(`HEAD of the grant's upload answered HTTP ${res.status}`)
  const resource = res.headers.get('Dandelion-Resource')
  const version = res.headers.get('Dandelion-Version')
  // the origin publishes a complete upload before it answers its HEAD, with the version
  if (resource !== null && version !== null)
    return { kind: 'published', url: contentUrl(init.origin, resource, version) }
  const offset = Number(res.headers.get('Upload-Offset'))
  const length = Number(res.headers.get('Upload-Length'))
  if (Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset < length)
    return { kind: 'unfinished' }
  throw new PhotoUploadError("the grant's upload is complete but the origin reported no version")
}

/**
 * Terminates the grant's unfinished upload, so that the grant can create it again. Done when
 * it is gone, or finished meanwhile (409 `ERR_GRANT_UPLOAD_FINISHED`: a HEAD reports it now).
 * @throws PhotoUploadError when the origin refuses otherwise
 */
export async function terminateGrantUpload(
  init: GrantUploadRequestInit,
  uploadUrl: string,
  options: { signal?: AbortSignal } = {},
): Promise<void> {
  const res = await request(init, 'DELETE', uploadUrl, options.signal)
  const body = await res.text().catch(() => '')
  if (res.status === 204 || res.status === 404 || res.status === 410) return
  if (res.status === 409 && errorCode(body) === 'ERR_GRANT_UPLOAD_FINISHED') return
  throw new PhotoUploadError(`terminating the grant's unfinished upload answered HTTP ${res.status}`)
}
