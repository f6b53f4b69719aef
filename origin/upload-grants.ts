/**
 * Who a request to `/uploads` acts as: the holder of the upload token (any upload), or the
 * holder of an upload grant (`node/upload-grant.ts`), limited to what the grant permits:
 *
 * - creating one upload (POST), whose declared length is at most the grant's `max` and
 *   whose metadata names the grant's resource and type; its id is derived from the grant,
 *   so a second creation with the same grant is refused (409) even after a restart or
 *   after the upload was published;
 * - HEAD, PATCH and DELETE on that upload only.
 *
 * Everything else a grant is refused for (403, `ERR_GRANT_SCOPE`). tus itself enforces that
 * no PATCH goes past the declared length.
 */
import { Metadata } from '@tus/utils'
import { bearerOf } from '../node/bearer.ts'
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

/** The upload id in a `/uploads/:id` path, if any. */
function uploadIdOf(url: string): string | undefined {
  const path = url.split('?')[0] ?? ''
  const m = /^\/uploads\/([^/]+)$/.exec(path)
  return m === null ? undefined : m[1]
}

/**
 * Checks a grant-holder's request against its grant, before tus sees it.
 * `exists(id)`: whether an upload with this id was created (in progress or published).
 * @throws GrantScopeError, GrantUsedError, BadRequestError (unreadable metadata)
 */
export async function checkGrantScope(
  request: { method: string; url: string; header(name: string): string | undefined },
  auth: Extract<UploadAuth, { kind: 'grant' }>,
  exists: (uploadId: string) => Promise<boolean>,
): Promise<void> {
  const { claims, uploadId } = auth
  const id = uploadIdOf(request.url)
  if (request.method === 'HEAD' || request.method === 'PATCH' || request.method === 'DELETE') {
    if (id === undefined || !UPLOAD_ID_RE.test(id) || id !== uploadId)
      throw new GrantScopeError('an upload grant reaches only the upload it created')
    return
  }
  if (request.method !== 'POST' || id !== undefined)
    throw new GrantScopeError(
      `an upload grant does not permit ${request.method} ${request.url.split('?')[0]}`,
    )
  if (request.header('upload-defer-length') !== undefined || request.header('upload-concat') !== undefined)
    throw new GrantScopeError(
      'an upload grant needs the upload length up front (no Upload-Defer-Length or Upload-Concat)',
    )
  const length = request.header('upload-length')
  if (length === undefined || !/^\d{1,16}$/.test(length))
    throw new GrantScopeError('an upload grant needs the upload length up front (Upload-Length)')
  if (Number(length) > claims.max)
    throw new GrantScopeError(
      `this upload grant allows at most ${claims.max} bytes; the upload declares ${length}`,
    )
  let metadata: Record<string, string | null>
  try {
    metadata = Metadata.parse(request.header('upload-metadata'))
  } catch {
    throw new BadRequestError('Upload-Metadata is not valid tus metadata', 'ERR_INVALID_METADATA')
  }
  if (metadata.name !== claims.name || metadata.type !== claims.type) {
    throw new GrantScopeError(
      `this upload grant is for resource ${JSON.stringify(claims.name)} of type ${claims.type} only`,
    )
  }
  if (await exists(uploadId)) throw new GrantUsedError(uploadId)
}
