/**
 * Who calls the admin API, and what they may do. Three kinds of bearer token are taken:
 *
 * - the tracker's own admin token (`--admin-token`): everything; the audit trail names it
 *   `admin-token`;
 * - its shared viewer token (`--viewer-token`), if it has one: reads only;
 * - an operator token (`state/operator-tokens.ts`), issued to one person or script with a
 *   role: `admin`, everything but issuing and revoking operator tokens (routes declared
 *   `adminTokenOnly`); `viewer`, reads only. The trail names its operator.
 *
 * No token is 401 `ERR_UNAUTHORIZED`; one that is none of these 403 `ERR_FORBIDDEN`; an
 * operator token revoked or expired 401 with its own code, told only to its holder (the
 * secret matched).
 */
import { logger } from '@libp2p/logger'
import type { FastifyRequest } from 'fastify'
import { bearerOf, bearerVerdict } from '../../node/bearer.ts'
import { ForbiddenError, UnauthorizedError } from '../errors.ts'
import { OperatorForbiddenError } from '../operator-errors.ts'
import type { TrackerState } from '../state/index.ts'
import { ADMIN_TOKEN_ACTOR, type OperatorRole, VIEWER_TOKEN_ACTOR } from '../state/operator-tokens.ts'

const log = logger('dandelion:tracker:auth')

/** Who a request comes from. */
export interface Caller {
  /** As the audit trail names it: an operator's name, `admin-token` or `viewer-token`. */
  actor: string
  role: OperatorRole
  /** Set for an operator token. */
  operator?: true
}

/** The tracker's own tokens. */
export interface AuthInit {
  adminToken: string
  viewerToken?: string
}

/** Route options a route of the table may declare (`RouteDef.adminTokenOnly`). */
export interface RouteAuthConfig {
  /** Changes through this route take the tracker's own admin token only, no operator's. */
  adminTokenOnly?: boolean
}

const isChange = (method: string): boolean => method !== 'GET' && method !== 'HEAD'

/**
 * The caller of `req`, or throws why it may not make it (see the module comment). A request
 * an operator token may make records when it was last used.
 */
export function authenticate(state: TrackerState, init: AuthInit, req: FastifyRequest): Caller {
  // Authorization: Bearer <token> — absent → 401, present but wrong → 403
  const header = req.headers.authorization
  const verdict = bearerVerdict(header, init.adminToken)
  if (verdict === 'missing') throw new UnauthorizedError()
  if (verdict === 'ok') return { actor: ADMIN_TOKEN_ACTOR, role: 'admin' }
  const change = isChange(req.method)
  // the viewer's token reads, and only reads
  if (init.viewerToken !== undefined && bearerVerdict(header, init.viewerToken) === 'ok') {
    if (change) throw new ForbiddenError('the viewer token only reads: this needs the admin token')
    return { actor: VIEWER_TOKEN_ACTOR, role: 'viewer' }
  }
  // as on disk: a token revoked is refused from the moment its revocation was answered
  const tokens = state.committed.operatorTokens
  const r = tokens.find(bearerOf(header) as string)
  if (r === undefined) throw new ForbiddenError()
  const now = Date.now()
  tokens.checkUse(r, now)
  if (change && r.role === 'viewer') throw new OperatorForbiddenError(r.name, 'viewer')
  // An admin operator may not issue tokens: one about to be revoked could otherwise keep
  // its power under another name, and revoking one operator would not be enough
  if (change && (req.routeOptions.config as RouteAuthConfig | undefined)?.adminTokenOnly === true)
    throw new OperatorForbiddenError(r.name, 'operators')
  touch(state, r.id, now)
  return { actor: r.name, role: r.role, operator: true }
}

/** Who made each request, as {@link identify} found: for the audit trail, and a route that records who asked. */
const callers = new WeakMap<FastifyRequest, Caller>()

/** {@link authenticate}s `req` and remembers its caller for {@link callerOf}. */
export function identify(state: TrackerState, init: AuthInit, req: FastifyRequest): Caller {
  const caller = authenticate(state, init, req)
  callers.set(req, caller)
  return caller
}

/** The caller {@link identify} found for `req`, if it did. */
export function callerOf(req: FastifyRequest): Caller | undefined {
  return callers.get(req)
}

/** Records that operator token `id` was used, not synced, at most once a minute (`OperatorTokens.touch`). */
function touch(state: TrackerState, id: string, now: number): void {
  if (!state.available) return
  const tx = state.tx()
  if (!state.operatorTokens.touch(tx, id, now)) return
  tx.commit().catch((err) => log.error('recording the use of operator token %s failed: %e', id, err))
}
