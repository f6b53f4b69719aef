/**
 * The local playback server of a node: a classroom player streams content from its
 * campus node with HTTP Range (RFC 9110 §14), while the content may still be arriving —
 * missing chunks are fetched first, with priority over replication.
 *
 * - `GET /content/:manifestCid` and `GET /content/by-name/:resource` (the name table's
 *   active version; 404 JSON if none); the manifest CID is the ETag, and `If-None-Match`,
 *   `If-Match` and `If-Range` are honoured (`conditional.ts`); a read waiting for content
 *   nothing of which arrives ends with 504 `ChunkTimeoutError` (or a cut-short body once
 *   bytes were sent) instead of hanging (`read-deadline.ts`)
 * - `GET /status` (swarms, progress, peers, bytes by source) and `GET /metrics` (Prometheus,
 *   with the server's own reads in progress and chunk timeouts)
 * - `POST /fetch/:manifestCid` places content on the node (what `dandelion fetch` calls)
 * - `GET /limits`, and `PUT /limits` to change the node's upload, download and origin
 *   rates while it runs (what `dandelion limits` calls; `limits.ts`)
 *
 * - `POST /scrub` starts a pass reading back and hashing every stored chunk (`../scrub.ts`)
 *
 * With an `apiToken`, `POST /fetch`, `PUT /limits` and `POST /scrub` need `Authorization:
 * Bearer <token>` (401 without, 403 wrong): players on the classroom network may read, only
 * the operator may place content, change rates or start a scrub.
 */
import { Readable } from 'node:stream'
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { bearerVerdict } from '../bearer.ts'
import { parseCid, parseRange } from '../content/index.ts'
import { ScrubUnavailableError } from '../errors.ts'
import type { DandelionNode } from '../index.ts'
import { evaluatePreconditions, rangeApplies } from './conditional.ts'
import { InvalidLimitsError, limitsJson, parseLimits } from './limits.ts'
import { lookupFailure } from './lookup-failure.ts'
import { createNodeMetrics, type PlaybackCounts } from './metrics.ts'
import { rangeBeyondQuota } from './range-room.ts'
import { ChunkTimeoutError, readWithDeadline } from './read-deadline.ts'
import { storeRefusal } from './store-refusal.ts'

/** How long to look for an unknown manifest before answering 404. */
const MANIFEST_LOOKUP_MS = 10_000

/** Retry-After of a `POST /fetch` refused because the node runs as many downloads as it may. */
const FETCH_RETRY_AFTER_S = 30

/**
 * A player waiting for a chunk is given up on once nothing of the lesson arrived over a
 * period this long (so after 30 s at the earliest; `read-deadline.ts`): 504
 * `ChunkTimeoutError` if nothing was sent yet, else the response is cut short (the player
 * sees a truncated body and can ask again with a Range). A lesson still arriving, however
 * slowly, keeps its players waiting. Before, a chunk no peer or origin could deliver held
 * the response open forever.
 */
export const CHUNK_WAIT_MS = 15_000

/**
 * Longest path parameter, decoded, in UTF-16 units: a resource name, which the tracker
 * accepts up to 200 characters (each up to 2 units). fastify's default, 100, answered 414
 * to `GET /content/by-name/:resource` for a name the node held.
 */
const MAX_PARAM_LENGTH = 400

/** A running playback server. */
export interface PlaybackServer {
  url: string
  close(): Promise<void>
}

/** Options of {@link startPlayback}. */
export interface PlaybackInit {
  /** @default '127.0.0.1' */
  host?: string
  /** @default 0 (a free port) */
  port?: number
  /** Bearer token that `POST /fetch` and `PUT /limits` require. @default none: anyone who can reach the server */
  apiToken?: string
  /** Period without progress after which a read waiting for a chunk ends, in milliseconds. @default {@link CHUNK_WAIT_MS} */
  chunkWaitMs?: number
}

/** Starts the playback server of `node`. */
export async function startPlayback(node: DandelionNode, init: PlaybackInit = {}): Promise<PlaybackServer> {
  const app = Fastify({
    logger: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    // closing ends every connection, not only idle ones: a paused video holds its response
    // open for as long as the tab lives, and a preconnected socket waits for a request that
    // may never come; before, either kept `node.stop()` (and the daemon's SIGTERM) waiting
    forceCloseConnections: true,
  })
  const counts: PlaybackCounts = { reads: 0, chunkTimeouts: 0 }
  const registry = createNodeMetrics(node, counts)

  const stream = async (req: FastifyRequest, reply: FastifyReply, cidText: string): Promise<FastifyReply> => {
    let cid: ReturnType<typeof parseCid>
    try {
      cid = parseCid(cidText, 'manifest')
    } catch (err) {
      return reply.code(400).send({ error: 'InvalidCidError', message: (err as Error).message })
    }
    const abort = new AbortController()
    reply.raw.once('close', () => abort.abort())
    // a player gone before this handler ran (during the by-name lookup) closed already
    if (req.raw.socket?.destroyed === true) abort.abort()
    let manifest: Awaited<ReturnType<DandelionNode['manifest']>>
    try {
      manifest = await node.manifest(cid, {
        signal: AbortSignal.any([abort.signal, AbortSignal.timeout(MANIFEST_LOOKUP_MS)]),
      })
    } catch (err) {
      // busy (503), held or found but signed by a key not trusted (502), or not found (404)
      const answer = await lookupFailure(node.store, cid, err, Math.ceil(MANIFEST_LOOKUP_MS / 1000))
      return reply.code(answer.status).headers(answer.headers).send(answer.body)
    }
    const etag = `"${cid.toString()}"`
    reply.header('accept-ranges', 'bytes').header('etag', etag)
    const verdict = evaluatePreconditions(req.headers, etag)
    // a browser revalidating what it cached gets no body; by name, the tag changes with the version
    if (verdict === 'not-modified') return reply.code(304).send()
    if (verdict === 'failed') return reply.code(412).send()
    reply.header('content-type', manifest.mime)
    // resuming a transfer of another version (a name now points elsewhere): the whole new one,
    // not its bytes spliced onto the old
    const range = rangeApplies(req.headers['if-range'], etag)
      ? parseRange(req.headers.range, manifest.size)
      : undefined
    if (range === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${manifest.size}`).send()
    }
    const start = range?.start ?? 0
    const end = range?.end ?? manifest.size - 1
    // a range needing room for more chunks than the quota holds beside what is pinned can
    // never be read whole; one held in full needs none (`range-room.ts`)
    const beyond =
      req.method !== 'HEAD' && manifest.size > 0
        ? await rangeBeyondQuota(node.store, manifest, start, end)
        : undefined
    if (beyond !== undefined) {
      return reply
        .code(507)
        .type('application/json; charset=utf-8')
        .send({ error: 'QuotaExceededError', message: beyond })
    }
    const sized = (): FastifyReply => {
      if (range !== undefined)
        reply.code(206).header('content-range', `bytes ${start}-${end}/${manifest.size}`)
      return reply.header('content-length', String(manifest.size === 0 ? 0 : end - start + 1))
    }
    if (manifest.size === 0 || req.method === 'HEAD') return sized().send()
    const body = readWithDeadline((signal) => node.read(cid, start, end, { signal }), {
      waitMs: init.chunkWaitMs ?? CHUNK_WAIT_MS,
      signal: abort.signal,
      what: `bytes ${start}-${end} of ${cid.toString()}`,
      progress: () => {
        const swarm = node.status().swarms.find((s) => s.manifestCid === cid.toString())
        return swarm === undefined
          ? 'no swarm'
          : `${swarm.chunksDone} ${swarm.bytesFromPeers} ${swarm.bytesFromOrigin}`
      },
    })
    // the first bytes before the status line: content nobody can deliver is a clear error,
    // not a 200 whose body never comes
    counts.reads++
    let reading = true
    const ended = (): void => {
      if (reading) counts.reads--
      reading = false
    }
    let head: IteratorResult<Uint8Array>
    try {
      head = await body.next()
    } catch (err) {
      ended()
      if (err instanceof ChunkTimeoutError) {
        counts.chunkTimeouts++
        return reply
          .code(err.statusCode)
          .removeHeader('etag')
          .type('application/json; charset=utf-8')
          .send({ error: err.name, message: err.message })
      }
      // the player went away: nobody to answer
      if (abort.signal.aborted) return reply.code(204).send()
      // no room to store what it needs (quota full of content kept, disk full): 507 with
      // the cause and the fix, not a 500 that reads like a fault of the node
      const refused = storeRefusal(err)
      if (refused !== undefined) {
        return reply
          .code(refused.status)
          .removeHeader('etag')
          .type('application/json; charset=utf-8')
          .send(refused.body)
      }
      throw err
    }
    async function* rest(): AsyncGenerator<Uint8Array> {
      if (head.done !== true) yield head.value
      yield* body
    }
    const stream = Readable.from(rest(), { objectMode: false })
    // however the stream ends, the read ends with it: `node.read` holds the content against
    // eviction until it returns, and a stream destroyed before it was first read (the player
    // left as its first chunk came) never runs `rest`, so never ends `body` by itself
    stream.once('close', () => {
      ended()
      body.return(undefined).catch(() => {})
    })
    stream.once('error', (err) => {
      if (err instanceof ChunkTimeoutError) counts.chunkTimeouts++
    })
    return sized().send(stream)
  }

  // HEAD is declared with GET, not left to fastify's automatic HEAD routes: those set
  // content-length to the (empty) body's, 0, where a player checking the size needs the file's
  app.route<{ Params: { cid: string } }>({
    method: ['GET', 'HEAD'],
    url: '/content/:cid',
    handler: async (req, reply) => await stream(req, reply, req.params.cid),
  })
  app.route<{ Params: { resource: string } }>({
    method: ['GET', 'HEAD'],
    url: '/content/by-name/:resource',
    handler: async (req, reply) => {
      const cid = await node.names.get(req.params.resource)
      if (cid === undefined) {
        return reply
          .code(404)
          .send({ error: 'NameNotFoundError', message: `no active version of ${req.params.resource}` })
      }
      return await stream(req, reply, cid)
    },
  })
  // fetches that failed before they began have no swarm of their own: reported beside the swarms
  app.get('/status', async () => node.status())
  /** Answers 401 / 403 and returns false unless the request carries the operator's token. */
  const operator = (req: FastifyRequest, reply: FastifyReply, what: string): boolean => {
    const verdict =
      init.apiToken === undefined ? 'ok' : bearerVerdict(req.headers.authorization, init.apiToken)
    if (verdict === 'missing') {
      reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'UnauthorizedError', message: `${what} needs the node API token` })
      return false
    }
    if (verdict === 'wrong') {
      reply.code(403).send({ error: 'ForbiddenError', message: 'wrong node API token' })
      return false
    }
    return true
  }
  app.get('/limits', async () => limitsJson(node.status().limits))
  // local control: `dandelion limits` changes the rates through this
  app.put('/limits', async (req, reply) => {
    if (!operator(req, reply, 'changing limits')) return reply
    try {
      node.setLimits(parseLimits(req.body))
    } catch (err) {
      if (!(err instanceof InvalidLimitsError)) throw err
      return reply.code(400).send({ error: err.name, message: err.message })
    }
    return limitsJson(node.status().limits)
  })
  // local control: `dandelion fetch` places content through this
  app.post<{ Params: { cid: string } }>('/fetch/:cid', async (req, reply) => {
    if (!operator(req, reply, 'placing content')) return reply
    let cid: ReturnType<typeof parseCid>
    try {
      cid = parseCid(req.params.cid, 'manifest')
    } catch (err) {
      return reply.code(400).send({ error: 'InvalidCidError', message: (err as Error).message })
    }
    // a 202 is kept across a crash: it is sent once the download is recorded on disk. What
    // fails before (no room for the record, too many downloads at once) is answered here;
    // progress, completion and later failures show in /status
    let recorded!: () => void
    const isRecorded = new Promise<void>((resolve) => (recorded = resolve))
    const fetching = node.fetch(cid, { onRecorded: () => recorded() })
    fetching.catch(() => {})
    try {
      await Promise.race([isRecorded, fetching])
    } catch (err) {
      if ((err as Error).name === 'LimitReachedError')
        return reply
          .code(503)
          .header('retry-after', String(FETCH_RETRY_AFTER_S))
          .send({ error: 'LimitReachedError', message: (err as Error).message })
      const refused = storeRefusal(err)
      if (refused === undefined) throw err
      return reply.code(refused.status).send(refused.body)
    }
    return reply.code(202).send({ manifestCid: cid.toString(), status: '/status' })
  })
  // local control: a scrub pass now (`node/scrub.ts`); its progress and result show in /status
  app.post('/scrub', async (req, reply) => {
    if (!operator(req, reply, 'starting a scrub')) return reply
    // a node that scrubs reports it in its status
    if (node.status().scrub === undefined) {
      const err = new ScrubUnavailableError()
      return reply.code(409).send({ error: err.name, message: err.message })
    }
    node.scrub().catch(() => {})
    return reply.code(202).send({ scrub: node.status().scrub, status: '/status' })
  })
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', registry.contentType).send(await registry.metrics()),
  )

  const address = await app.listen({ host: init.host ?? '127.0.0.1', port: init.port ?? 0 })
  return {
    url: address,
    async close() {
      await app.close()
    },
  }
}
