/**
 * The admin API's audit trail (`state/audit.ts`): every change made through it is recorded
 * once answered with success, and listed newest first by `GET /audit`.
 */
import { logger } from '@libp2p/logger'
import type { FastifyRequest } from 'fastify'
import { MAX_AUDIT_BODY_CHARS } from '../constants.ts'
import type { TrackerState } from '../state/index.ts'
import { OPERATOR_NAME_PATTERN } from '../state/operator-tokens.ts'
import type { RouteContext, RouteDef } from './route-kit.ts'

const log = logger('dandelion:tracker:audit')

/** Query of `GET /audit`. */
const auditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    before: {
      type: 'integer',
      minimum: 1,
      description: 'Entries before this seq (the last of the previous page).',
    },
    actor: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      pattern: OPERATOR_NAME_PATTERN,
      description: "Only the changes of this operator, or of the tracker's own admin token (admin-token).",
    },
  },
} as const

/**
 * Records the change `req` made (answered `status`, a success) by `actor` (an operator's
 * name, or `admin-token`) in the audit trail: the request as asked, never its answer (which
 * holds an issued token's secret). Not synced and never in the change's own commit: the
 * change stands whatever becomes of its record; a record that cannot be written is logged.
 */
export function recordChange(state: TrackerState, req: FastifyRequest, status: number, actor: string): void {
  if (!state.available) {
    log.error('not recorded in the audit trail (state unavailable): %s %s', req.method, req.url)
    return
  }
  const params = req.params as Record<string, string> | undefined
  const body = req.body === undefined || req.body === null ? undefined : JSON.stringify(req.body)
  const tx = state.tx()
  state.audit.record(tx, {
    at: Date.now(),
    method: req.method,
    route: req.routeOptions.url ?? req.url,
    ...(params === undefined || Object.keys(params).length === 0 ? {} : { params }),
    ...(body === undefined ? {} : { body: body.slice(0, MAX_AUDIT_BODY_CHARS) }),
    status,
    actor,
  })
  tx.commit().catch((err) =>
    log.error('recording %s %s in the audit trail failed: %e', req.method, req.url, err),
  )
}

/** The audit trail's route. */
export function auditRoutes(c: RouteContext): RouteDef[] {
  return [
    {
      method: 'GET',
      url: '/audit',
      summary:
        "Changes made through the admin API, newest first: when, who (actor: an operator's name, or admin-token for the tracker's own admin token; absent on entries older than operator tokens), method, route, ids, body (cut to 2,000 characters), status; the last 10,000 are kept. Page back with ?before=<the last seq>; ?actor=<name> keeps one actor's",
      schema: { querystring: auditQuery },
      handler: async (req) => {
        const q = req.query as { limit: number; before?: number; actor?: string }
        return c.view.audit.page(q.limit, q.before, q.actor)
      },
    },
  ]
}
