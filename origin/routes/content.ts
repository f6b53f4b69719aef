/**
 * Read-only HTTP API of the origin: manifests, chunks (the web-seed fallback of every
 * swarm), resources and versions, and the reassembled content with Range support.
 *
 * Private resources (homework photos uploaded with an upload grant, see `catalog.ts`) are
 * left out of `GET /resources` unless the request carries the upload token; then every
 * resource is listed, private ones marked `"private": true`. Their versions, manifests and
 * content stay reachable by exact name: the URL the teacher was given is the capability.
 */
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply } from 'fastify'
import { bearerVerdict } from '../../node/bearer.ts'
import { decodeManifest, type Manifest, parseCid, parseRange } from '../../node/content/index.ts'
import { type ChunkStore, readRange } from '../../node/store/index.ts'
import type { Catalog } from '../catalog.ts'
import { IMMUTABLE_CACHE_CONTROL, MANIFEST_MEDIA_TYPE, UPLOAD_ID_RE } from '../constants.ts'
import { BadRequestError, ForbiddenError, NotFoundError, RangeNotSatisfiableError } from '../errors.ts'
import type { OriginMetrics } from '../metrics.ts'

/** What the content routes read from. */
export interface ContentRoutesComponents {
  store: ChunkStore
  catalog: Catalog
  metrics: OriginMetrics
}

/** Options of the content routes. */
export interface ContentRoutesInit {
  /** The origin's upload token: a request bearing it sees private resources in listings. */
  token: string
}

const cidParam = {
  type: 'object',
  properties: { cid: { type: 'string', maxLength: 200 } },
  required: ['cid'],
}
const versionParams = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    version: { type: 'integer', minimum: 1 },
  },
  required: ['name', 'version'],
}

function notModified(reply: FastifyReply, ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined || !ifNoneMatch.split(',').some((t) => t.trim() === etag)) return false
  void reply.code(304).header('ETag', etag).header('Cache-Control', IMMUTABLE_CACHE_CONTROL).send()
  return true
}

/**
 * Whether a listing request may see private resources: with the upload token, yes; without a
 * bearer, no.
 * @throws ForbiddenError for any other bearer (an upload grant included): a wrong token would
 * otherwise look like an origin without private resources
 */
function listsPrivate(authorization: string | undefined, token: string): boolean {
  const verdict = bearerVerdict(authorization, token)
  if (verdict === 'wrong') throw new ForbiddenError()
  return verdict === 'ok'
}

/** Registers the read-only routes. */
export function contentRoutes(
  app: FastifyInstance,
  components: ContentRoutesComponents,
  init: ContentRoutesInit,
): void {
  const { store, catalog, metrics } = components
  const { token } = init

  const loadManifest = async (cid: string): Promise<Manifest> => {
    const bytes = await catalog.manifestBytes(cid)
    if (bytes === undefined) throw new NotFoundError(`manifest ${cid} not found`)
    return decodeManifest(bytes)
  }

  app.get<{ Params: { cid: string } }>(
    '/manifests/:cid',
    { schema: { params: cidParam } },
    async (req, reply) => {
      const cid = parseCid(req.params.cid, 'manifest').toString()
      const etag = `"${cid}"`
      if (notModified(reply, req.headers['if-none-match'], etag)) return reply
      const bytes = await catalog.manifestBytes(cid)
      if (bytes === undefined) throw new NotFoundError(`manifest ${cid} not found`)
      return reply
        .header('Content-Type', MANIFEST_MEDIA_TYPE)
        .header('Cache-Control', IMMUTABLE_CACHE_CONTROL)
        .header('ETag', etag)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    },
  )

  app.get<{ Params: { cid: string } }>(
    '/chunks/:cid',
    { schema: { params: cidParam } },
    async (req, reply) => {
      const cid = parseCid(req.params.cid, 'chunk')
      const etag = `"${cid.toString()}"`
      if (notModified(reply, req.headers['if-none-match'], etag)) return reply
      if (!(await store.has(cid))) throw new NotFoundError(`chunk ${cid.toString()} not found`)
      const bytes = await store.get(cid, { signal: req.signal })
      metrics.chunkBytesServed.inc(bytes.byteLength)
      return reply
        .header('Content-Type', 'application/octet-stream')
        .header('Cache-Control', IMMUTABLE_CACHE_CONTROL)
        .header('ETag', etag)
        .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    },
  )

  app.get('/resources', async (req, reply) => {
    void reply.header('Vary', 'Authorization')
    const all = await catalog.resources()
    return {
      resources: listsPrivate(req.headers.authorization, token) ? all : all.filter((r) => r.private !== true),
    }
  })

  app.get<{ Params: { name: string } }>(
    '/resources/:name/versions',
    { schema: { params: { type: 'object', properties: { name: { type: 'string', maxLength: 200 } } } } },
    async (req, reply) => {
      const resource = await catalog.resource(req.params.name)
      if (resource === undefined)
        throw new NotFoundError(`resource ${JSON.stringify(req.params.name)} not found`)
      const versions = await catalog.versions(req.params.name)
      // A private resource is asked for by its name, the capability: all its versions are
      // the asker's. A public one's name is known to all, so its private versions (if one
      // was ever published under that name) are listed to the token only.
      if (resource.private === true) return { resource, versions }
      void reply.header('Vary', 'Authorization')
      return {
        resource,
        versions: listsPrivate(req.headers.authorization, token)
          ? versions
          : versions.filter((v) => v.private !== true),
      }
    },
  )

  app.get<{ Params: { name: string; version: number } }>(
    '/resources/:name/versions/:version/content',
    { schema: { params: versionParams } },
    async (req, reply) => {
      const v = await catalog.version(req.params.name, req.params.version)
      if (v === undefined) {
        throw new NotFoundError(
          `version ${req.params.version} of ${JSON.stringify(req.params.name)} not found`,
        )
      }
      const manifest = await loadManifest(v.manifestCid)
      const etag = `"${v.manifestCid}"`
      void reply
        .header('Accept-Ranges', 'bytes')
        .header('ETag', etag)
        .header('Cache-Control', IMMUTABLE_CACHE_CONTROL)
        .header('Content-Type', manifest.mime)
      if (notModified(reply, req.headers['if-none-match'], etag)) return reply
      const range = parseRange(req.headers.range, manifest.size)
      if (range === 'unsatisfiable') {
        void reply.header('Content-Range', `bytes */${manifest.size}`)
        throw new RangeNotSatisfiableError(manifest.size)
      }
      if (manifest.size === 0) return reply.header('Content-Length', 0).send('')
      const { start, end } = range ?? { start: 0, end: manifest.size - 1 }
      if (range !== undefined)
        reply.code(206).header('Content-Range', `bytes ${start}-${end}/${manifest.size}`)
      reply.header('Content-Length', end - start + 1)
      metrics.contentBytesServed.inc(end - start + 1)
      return reply.send(
        Readable.from(readRange(store, manifest, start, end, { signal: req.signal }), { highWaterMark: 2 }),
      )
    },
  )

  app.get('/ingests/:uploadId', async (req) => {
    const { uploadId } = req.params as { uploadId: string }
    if (!UPLOAD_ID_RE.test(uploadId)) throw new BadRequestError('malformed upload id')
    const v = await catalog.byUpload(uploadId)
    if (v === undefined) throw new NotFoundError(`upload ${uploadId} has not been published`)
    return { status: 'published', version: v }
  })
}
