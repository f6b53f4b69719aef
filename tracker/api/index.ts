/**
 * The tracker's HTTP surface: the admin API under `/api/v1` (bearer tokens checked in
 * `auth.ts`, JSON Schema on every body, params and query, stable error codes), the OpenAPI
 * document at `/api/docs`, SSE release events and `/metrics`.
 */

import { Ajv, type Options as AjvOptions } from 'ajv'
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify'
import { jsonFrameworkErrors } from '../../node/framework-errors.ts'
import type { Backups } from '../backups.ts'
import type { ChannelServer } from '../channel/server.ts'
import { MAX_BODY_BYTES } from '../constants.ts'
import { TrackerError, VersionInUseError } from '../errors.ts'
import type { NodeEvents } from '../node-events.ts'
import type { RolloutEngine } from '../rollout/engine.ts'
import type { TrackerState } from '../state/index.ts'
import { recordChange } from './audit-routes.ts'
import { callerOf, identify, type RouteAuthConfig } from './auth.ts'
import { createMetrics } from './metrics.ts'
import { openApiDocument } from './openapi.ts'
import { routes } from './routes.ts'
import { eventsQuery, idParams } from './schemas.ts'
import { SseHub } from './sse.ts'

/** API mount point. */
export const API_PREFIX = '/api/v1'

/** Components of the API. */
export interface ApiComponents {
  state: TrackerState
  engine: RolloutEngine
  channel: ChannelServer
  /** The tracker's backups; none for a tracker in memory. */
  backups?: Backups
  /** Where node events are announced (`GET /api/v1/events/nodes`). */
  nodeEvents: NodeEvents
}

/** Options of the API. */
export interface ApiInit {
  adminToken: string
  /**
   * A token that reads only (`GET`: lists, status, event streams), for dashboards and
   * monitoring that must not change anything. @default none
   */
  viewerToken?: string
  /** fastify (pino) request logging. @default false */
  logger?: boolean
}

/** Builds the fastify app (not listening yet). */
export function createApi(components: ApiComponents, init: ApiInit): FastifyInstance {
  const app = Fastify({
    logger: init.logger === true,
    bodyLimit: MAX_BODY_BYTES,
    frameworkErrors: jsonFrameworkErrors,
  })
  // Unknown keys are an error, not silently dropped. Path and query parameters are text and
  // are read as the numbers they spell; a JSON body is taken as it types its values: with
  // fastify's default coercion `"version": true` released v1, and `"activateAt": null` (what
  // a script, or the CLI given an unreadable date, sends) meant "activate at once".
  const ajvOptions: AjvOptions = { removeAdditional: false, useDefaults: true, allErrors: false }
  const bodies = new Ajv({ ...ajvOptions, coerceTypes: false })
  const text = new Ajv({ ...ajvOptions, coerceTypes: 'array' })
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodies : text).compile(schema))
  const table = routes(components)
  const sse = new SseHub({ source: components.engine })
  // the node events on a stream of their own (`node-events.ts`)
  const nodeSse = new SseHub({ source: components.nodeEvents })
  // before the server waits for its requests to end: an event stream never ends by itself
  app.addHook('preClose', async () => {
    sse.close()
    nodeSse.close()
  })

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation !== undefined) {
      return reply
        .code(400)
        .send({ error: { code: 'ERR_VALIDATION', message: err.message, details: err.validation } })
    }
    if (err instanceof TrackerError) {
      // what some refusals say for a program too (`ERR_VERSION_IN_USE`: what uses the version)
      const details = err instanceof VersionInUseError ? { details: err.details } : {}
      return reply.code(err.status).send({ error: { code: err.code, message: err.message, ...details } })
    }
    if (typeof err.statusCode === 'number' && err.statusCode < 500) {
      return reply
        .code(err.statusCode)
        .send({ error: { code: err.code ?? 'ERR_BAD_REQUEST', message: err.message } })
    }
    req.log.error(err)
    return reply.code(500).send({ error: { code: 'ERR_INTERNAL', message: 'internal error' } })
  })

  app.get('/api/docs', async () => openApiDocument(API_PREFIX, table))
  const metrics = createMetrics(components.state, components.channel, components.backups)
  app.get('/metrics', async (_req, reply) => {
    reply.type(metrics.contentType)
    return metrics.metrics()
  })
  app.get('/health', async () => {
    // unhealthy while state writes fail, so monitoring sees the disk needs attention
    if (components.state.failure !== undefined) throw components.state.failure
    return { ok: true }
  })

  app.register(
    async (api) => {
      // who made each request, for the audit trail
      api.addHook('onRequest', async (req) => {
        identify(components.state, init, req)
        // Reads are served from what is on disk whatever happens; a change is refused while
        // the writers' state is reloaded after a failed write (see `TrackerState.available`)
        if (req.method !== 'GET' && req.method !== 'HEAD') components.state.assertAvailable()
      })
      // every change answered with success goes to the audit trail
      api.addHook('onResponse', async (req, reply) => {
        if (req.method === 'GET' || req.method === 'HEAD' || reply.statusCode >= 400) return
        recordChange(components.state, req, reply.statusCode, callerOf(req)?.actor ?? 'unknown')
      })
      for (const r of table) {
        api.route({
          method: r.method,
          url: r.url,
          schema: r.schema,
          config: { adminTokenOnly: r.adminTokenOnly === true } satisfies RouteAuthConfig,
          handler: async (req, reply) => {
            const out = await r.handler(req, reply)
            reply.code(r.status ?? 200)
            return r.status === 204 ? undefined : out
          },
        })
      }
      api.get('/events', { schema: { querystring: eventsQuery } }, async (req, reply) =>
        sse.stream(req, reply),
      )
      api.get('/events/nodes', { schema: { querystring: eventsQuery } }, async (req, reply) =>
        nodeSse.stream(req, reply),
      )
      const releaseEvents = { params: idParams, querystring: eventsQuery }
      api.get('/releases/:id/events', { schema: releaseEvents }, async (req, reply) => {
        components.state.committed.releases.get((req.params as { id: string }).id)
        sse.stream(req, reply, (req.params as { id: string }).id)
      })
    },
    { prefix: API_PREFIX },
  )
  return app
}
