/**
 * Which requests to `/uploads` go on to tus: the bearer checked (the upload token, or an
 * upload grant within its scope, `upload-grants.ts`), read both from fastify's request
 * (`admit`) and again from the one tus acts on (`grantOf`), which may differ (a repeated
 * header, the URL). A grant creates one upload: its second creation is refused while the
 * first is being checked or created, and the upload it creates is private from the start.
 */
import type { FastifyRequest } from 'fastify'
import { bearerOf } from '../node/bearer.ts'
import { isUploadGrant, type UploadGrantClaims, UploadGrantVerifier } from '../node/upload-grant.ts'
import type { PublishedVersion } from './catalog.ts'
import type { ChunkingDataStore } from './chunking-store.ts'
import {
  GrantScopeError,
  GrantUploadFinishedError,
  GrantUsedError,
  UploadNotResumableError,
} from './errors.ts'
import { authorizeUpload, checkGrantScope } from './upload-grants.ts'

/** What {@link UploadAdmission} reads of the uploads. */
export interface UploadAdmissionComponents {
  datastore: Pick<ChunkingDataStore, 'getUpload'>
  /** The version an upload was published as, if it was. */
  published(uploadId: string): Promise<PublishedVersion | undefined>
  /** Whether an upload is being published now. */
  publishing(uploadId: string): boolean
}

/** Options of {@link UploadAdmission}. */
export interface UploadAdmissionInit {
  /** The upload token: any upload. */
  token: string
  /** PeerIds of the upload grant issuers trusted (e.g. the rtc server, for homework photos). @default none */
  grantIssuers?: readonly string[]
}

/** See the module comment. */
export class UploadAdmission {
  private readonly c: UploadAdmissionComponents
  private readonly token: string
  private readonly grants: UploadGrantVerifier
  /** Uploads being created with a grant right now: a second POST of the same grant waits for nothing. */
  private readonly creating = new Set<string>()
  /**
   * Ids tus is creating an upload under for a grant, as tus read it (`onUploadCreate`), until
   * the data store records the upload as private. At most one per entry of `creating`.
   */
  private readonly creatingPrivate = new Set<string>()

  constructor(components: UploadAdmissionComponents, init: UploadAdmissionInit) {
    this.c = components
    this.token = init.token
    this.grants = new UploadGrantVerifier(init.grantIssuers ?? [])
  }

  /**
   * The upload grant of a request, read again from the request tus handles (`admit` read
   * fastify's, and the two may differ: a repeated header, the URL); undefined for another bearer.
   * @throws GrantScopeError when the grant does not verify (it expired since `admit`)
   */
  grantOf(req: Request): UploadGrantClaims | undefined {
    const bearer = bearerOf(req.headers.get('authorization'))
    if (bearer === undefined || !isUploadGrant(bearer)) return undefined
    try {
      return this.grants.verify(bearer)
    } catch (err) {
      throw new GrantScopeError((err as Error).message)
    }
  }

  /** tus is creating upload `id` for a grant: the data store records it as private. */
  creatingWithGrant(id: string): void {
    this.creatingPrivate.add(id)
  }

  /** Whether upload `id`, being created now, is a grant's (private); asked once, by the data store. */
  takePrivate(id: string): boolean {
    return this.creatingPrivate.delete(id)
  }

  /**
   * Checks the bearer (and a grant's scope); returns the grant upload id a POST creates, if
   * any, reserved until {@link release}.
   */
  async admit(req: FastifyRequest): Promise<string | undefined> {
    const auth = authorizeUpload(req.headers.authorization, this.token, this.grants)
    if (auth.kind === 'token') return undefined
    const request = { method: req.method, url: req.url, header: (n: string) => header(req, n) }
    const uploadExists = (id: string): Promise<boolean> => this.uploadExists(id)
    if (req.method !== 'POST') {
      await checkGrantScope(request, auth, uploadExists)
      if (req.method === 'DELETE') await this.checkGrantTermination(auth.uploadId)
      return undefined
    }
    // Reserved before the (awaited) check that no upload has this id yet: a second POST of
    // the grant is refused here while the first is being checked or created, and finds the
    // upload once the first is done. Checked after, a first POST could finish creating
    // between the second's look and its creation.
    if (this.creating.has(auth.uploadId)) throw new GrantUsedError(auth.uploadId)
    this.creating.add(auth.uploadId)
    try {
      await checkGrantScope(request, auth, uploadExists)
    } catch (err) {
      this.creating.delete(auth.uploadId)
      throw err
    }
    return auth.uploadId
  }

  /** The request that reserved `uploadId` (see {@link admit}) has ended. */
  release(uploadId: string): void {
    this.creating.delete(uploadId)
    // left over when tus failed between `onUploadCreate` and creating the upload
    this.creatingPrivate.delete(uploadId)
  }

  private async uploadExists(id: string): Promise<boolean> {
    return (
      (await this.c.datastore.getUpload(id).then(
        () => true,
        // there, if not resumable: its grant holder terminates it and creates it again
        (err: unknown) => err instanceof UploadNotResumableError,
      )) || (await this.c.published(id)) !== undefined
    )
  }

  /**
   * A grant may start its upload over (a lamp that restarted took a new photo, whose bytes must
   * not be appended to the old one's) but never undo it: only an upload still missing bytes,
   * not being published, may be terminated with a grant. An unknown one is left to tus (404).
   */
  private async checkGrantTermination(id: string): Promise<void> {
    const upload = await this.c.datastore.getUpload(id).catch(() => undefined)
    const finished =
      upload === undefined
        ? (await this.c.published(id)) !== undefined
        : this.c.publishing(id) || upload.size === undefined || upload.offset >= upload.size
    if (finished) throw new GrantUploadFinishedError(id)
  }
}

/** A request header as one string (a repeated one joined). */
function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v.join(',') : v
}
