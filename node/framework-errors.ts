/**
 * fastify's `frameworkErrors` for the services that answer errors as
 * `{ error: { code, message } }` (origin, tracker): router errors (a path parameter
 * longer than the router takes: 414, a URL that does not decode: 400) are answered by
 * fastify before any error handler runs, in a shape of its own, so clients matching on
 * `error.code` found nothing there.
 */
import type { FastifyError, FastifyReply } from 'fastify'

/** Answers a router error in the services' error shape, with fastify's status and code. */
export function jsonFrameworkErrors(err: FastifyError, _req: unknown, reply: FastifyReply): void {
  const status = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 400
  void reply.code(status).send({ error: { code: err.code ?? 'ERR_BAD_REQUEST', message: err.message } })
}
