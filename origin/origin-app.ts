/**
 * The origin's fastify app before any route: every error answered as JSON
 * `{ error: { code, message } }` with its status (the origin's own `HttpError`s, the content
 * model's errors on request input, fastify's validation and framework errors, unknown
 * routes), and every connection ended when the app closes.
 */
import { logger } from '@libp2p/logger'
import Fastify, { type FastifyInstance } from 'fastify'
import { DandelionError } from '../node/errors.ts'
import { jsonFrameworkErrors } from '../node/framework-errors.ts'
import { HttpError, NotFoundError } from './errors.ts'

const log = logger('dandelion:origin')

/** Options of {@link createOriginApp}. */
export interface OriginAppInit {
  /** fastify (pino) request logging. @default false */
  logger?: boolean
}

/** A new fastify app answering errors as the origin does (see the module comment). */
export function createOriginApp(init: OriginAppInit = {}): FastifyInstance {
  const app = Fastify({
    logger: init.logger ?? false,
    // Stopping ends every connection, not only idle ones: an upload may go on for hours, or
    // hang on a client that stopped sending without closing its connection (a download to one
    // that stopped reading, too), and waited for, it kept the origin from stopping at all. An
    // upload cut this way keeps what it stored, as any interrupted one, and its client resumes.
    forceCloseConnections: true,
    bodyLimit: 1024 * 1024,
    frameworkErrors: jsonFrameworkErrors,
  })
  app.setErrorHandler((err, _req, reply) => {
    const e = err as Error & { statusCode?: number; code?: string; validation?: unknown }
    if (e instanceof HttpError)
      return reply.code(e.statusCode).send({ error: { code: e.code, message: e.message } })
    if (e instanceof DandelionError) {
      // content-model errors on request input (a malformed CID) are the client's fault
      const status = e.code === 'ERR_CHUNK_NOT_FOUND' ? 404 : 400
      return reply.code(status).send({ error: { code: e.code, message: e.message } })
    }
    if (e.validation !== undefined) {
      return reply.code(400).send({ error: { code: 'ERR_VALIDATION', message: e.message } })
    }
    const status = e.statusCode !== undefined && e.statusCode >= 400 ? e.statusCode : 500
    if (status >= 500) log.error('request failed: %s', e.stack ?? e.message)
    return reply.code(status).send({ error: { code: e.code ?? 'ERR_INTERNAL', message: e.message } })
  })
  app.setNotFoundHandler((req, reply) => {
    const e = new NotFoundError(`no route ${req.method} ${req.url.split('?')[0]}`)
    return reply.code(404).send({ error: { code: e.code, message: e.message } })
  })
  return app
}
