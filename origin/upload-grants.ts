/**
 * Who a request to `/uploads` acts as: the holder of the upload token (any upload), or the
 * holder of an upload grant (`node/upload-grant.ts`), limited to what the grant permits:
 *
 * - creating one upload (POST), whose declared length is at most the grant's `max` and
 *   whose metadata names the grant's resource and type; its id is derived from the grant,
 *   so a second creation with the same grant is refused (409, with a `Location` naming that
 *   upload) even after a restart or after the upload was published;
 * - HEAD, PATCH and DELETE on that upload only, DELETE only while bytes are missing: a device
 *   that restarted mid-upload starts over (its new photo is not the bytes it sent before), a
 *   finished photo stays, and its HEAD reports its version (`uploads.ts`). So a grant still
 *   publishes at most one version;
 * - content served as a download or, for image and video grants, as a picture or a film:
 *   never as a page a browser runs (HTML, SVG), which the origin's site would then host.
 *
 * Everything else a grant is refused for (403, `ERR_GRANT_SCOPE`). tus itself enforces that
 * no PATCH goes past the declared length. The upload a request reaches is read from its path
 * by {@link uploadIdOf} both here and in tus (`uploads.ts`), which also checks it against the
 * grant again: the two must never disagree on which upload a request acts on.
 */
import { Metadata } from '@tus/utils'
import { bearerOf } from '../node/bearer.ts'
import type { ContentType } from '../node/content/index.ts'
import { safeEqual } from '../node/safe-equal.ts'
import {
  grantUploadId,
  InvalidGrantError,
  isUploadGrant,
  type UploadGrantClaims,
  type UploadGrantVerifier,
} from '../node/upload-grant.ts'
import { UPLOAD_ID_RE } from './constants.ts'
import {
  BadRequestError,
  ForbiddenError,
  GrantScopeError,
  GrantUsedError,
  InvalidGrantHttpError,
  UnauthorizedError,
} from './errors.ts'
import { parseUploadMetadata } from './metadata.ts'

/** Served as a download by every browser: any grant may upload it. */
const DOWNLOAD_MIME = 'application/octet-stream'

/**
 * What else an upload made with a grant may be served as, by the grant's type: pictures and
 * films browsers show but never run. Not SVG, which runs scripts when opened on its own.
 */
const GRANT_MIME_TYPES: Readonly<Partial<Record<ContentType, readonly string[]>>> = {
  image: ['image/jpeg', 'image/png', 'image/webp', 'image/gif', 'image/avif'],
  video: ['video/mp4', 'video/webm'],
}

/** What a request may do. */
export type UploadAuth = { kind: 'token' } | { kind: 'grant'; claims: UploadGrantClaims; uploadId: string }

/**
 * Reads the request's bearer: the upload token, or a grant signed by a trusted issuer.
 * @throws UnauthorizedError without a bearer; ForbiddenError or InvalidGrantHttpError for a bad one
 */
export function authorizeUpload(
  header: string | null | undefined,
  token: string,
  grants: UploadGrantVerifier,
): UploadAuth {
  const given = bearerOf(header)
  if (given === undefined) throw new UnauthorizedError()
  if (!isUploadGrant(given)) {
    if (!safeEqual(given, token)) throw new ForbiddenError()
    return { kind: 'token' }
  }
  if (grants.size === 0) throw new InvalidGrantHttpError('this origin trusts no upload grant issuer')
  try {
    const claims = grants.verify(given)
    return { kind: 'grant', claims, uploadId: grantUploadId(claims.jti) }
  } catch (err) {
    if (err instanceof InvalidGrantError) throw new InvalidGrantHttpError(err.message)
    throw err
  }
}

/** `/uploads/<one segment>`: a request on one upload, not a creation. */
const UPLOAD_PATH_RE = /^\/uploads\/([^/]+)$/

/** The path of a request target, as sent: origin-form, or absolute-form (`http://host/path`). */
function pathOf(target: string): string {
  const path = target.startsWith('/') ? target : (URL.parse(target)?.pathname ?? '')
  return path.split('?')[0] ?? ''
}

/**
 * The upload a request target (path and query, as sent) names: `/uploads/<id>` with an id
 * this origin issues, or undefined. The query string names nothing: tus's own reading takes
 * whatever follows the last `/` of the whole URL, so `/uploads/<own id>?/<another id>` was the
 * other upload.
 */
export function uploadIdOf(target: string): string | undefined {
  const m = UPLOAD_PATH_RE.exec(pathOf(target))
  return m !== null && UPLOAD_ID_RE.test(m[1]) ? m[1] : undefined
}

/**
 * Checks a grant-holder's request against its grant, before tus sees it.
 * `exists(id)`: whether an upload with this id was created (in progress or published).
 * @throws GrantScopeError, GrantUsedError, BadRequestError (unreadable or invalid metadata)
 */
export async function checkGrantScope(
  request: { method: string; url: string; header(name: string): string | undefined },
  auth: Extract<UploadAuth, { kind: 'grant' }>,
  exists: (uploadId: string) => Promise<boolean>,
): Promise<void> {
  const { claims, uploadId } = auth
  if (request.method === 'HEAD' || request.method === 'PATCH' || request.method === 'DELETE') {
    if (uploadIdOf(request.url) !== uploadId)
      throw new GrantScopeError('an upload grant reaches only the upload it created')
    return
  }
  if (request.method !== 'POST' || UPLOAD_PATH_RE.test(pathOf(request.url)))
    throw new GrantScopeError(`an upload grant does not permit ${request.method} ${pathOf(request.url)}`)
  if (request.header('upload-defer-length') !== undefined || request.header('upload-concat') !== undefined)
    throw new GrantScopeError(
      'an upload grant needs the upload length up front (no Upload-Defer-Length or Upload-Concat)',
    )
  const length = request.header('upload-length')
  if (length === undefined || !/^\d{1,16}$/.test(length))
    throw new GrantScopeError('an upload grant needs the upload length up front (Upload-Length)')
  let metadata: Record<string, string | null>
  try {
    metadata = Metadata.parse(request.header('upload-metadata'))
  } catch {
    throw new BadRequestError('Upload-Metadata is not valid tus metadata', 'ERR_INVALID_METADATA')
  }
  checkGrantUpload(claims, { size: Number(length), metadata })
  if (await exists(uploadId)) throw new GrantUsedError(uploadId)
}

/**
 * Checks an upload being created with a grant: its length, resource name, type and the MIME
 * type it will be served with. Run on the request as `admit` reads it and again on the upload
 * tus made of it, so the two readings of the headers cannot disagree.
 * @throws GrantScopeError; BadRequestError for invalid metadata
 */
export function checkGrantUpload(
  claims: UploadGrantClaims,
  upload: { size?: number; metadata?: Record<string, string | null> },
): void {
  if (upload.size === undefined || upload.size > claims.max) {
    throw new GrantScopeError(
      `this upload grant allows at most ${claims.max} bytes; the upload declares ${upload.size ?? 'none'}`,
    )
  }
  const metadata = upload.metadata ?? {}
  if (metadata.name !== claims.name || metadata.type !== claims.type) {
    throw new GrantScopeError(
      `this upload grant is for resource ${JSON.stringify(claims.name)} of type ${claims.type} only`,
    )
  }
  // the MIME type the content will be served with, given or guessed from the file name
  const { mime } = parseUploadMetadata(metadata)
  const allowed = [...(GRANT_MIME_TYPES[claims.type] ?? []), DOWNLOAD_MIME]
  if (!allowed.includes(mime)) {
    throw new GrantScopeError(
      `an upload grant of type ${claims.type} publishes ${allowed.join(', ')} only, not ${mime}`,
    )
  }
}
