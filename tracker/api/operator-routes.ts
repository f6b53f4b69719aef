/**
 * Admin API routes of the operator tokens (`state/operator-tokens.ts`): a credential for each
 * person or script of an operations team, with a role, named in the audit trail, revocable
 * alone. Issued and revoked with the tracker's own admin token only (`adminTokenOnly`, see
 * `auth.ts`); listed to any token that reads.
 */
import { MAX_OPERATOR_TOKEN_TTL_MS } from '../constants.ts'
import { OPERATOR_NAME_PATTERN, type OperatorRole, operatorView } from '../state/operator-tokens.ts'
import type { P, RouteContext, RouteDef } from './route-kit.ts'

const name = { type: 'string', minLength: 1, maxLength: 64, pattern: OPERATOR_NAME_PATTERN } as const

/** Body of `POST /operators`. */
const operatorBody = {
  type: 'object',
  required: ['name', 'role'],
  additionalProperties: false,
  properties: {
    name,
    role: { type: 'string', enum: ['admin', 'viewer'] },
    ttlSeconds: { type: 'integer', minimum: 1, maximum: MAX_OPERATOR_TOKEN_TTL_MS / 1000 },
  },
} as const

/** Params of `DELETE /operators/:name`. */
const operatorParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name },
} as const

interface IssueBody {
  name: string
  role: OperatorRole
  ttlSeconds?: number
}

/** The operator tokens' routes. */
export function operatorRoutes(c: RouteContext): RouteDef[] {
  const { state, view, commit } = c
  return [
    {
      method: 'POST',
      url: '/operators',
      summary:
        "Issue an operator token (tracker's admin token only): name (lower-case letters, digits, . _ -), role admin (every change but operator tokens) or viewer (reads only), expiring after ttlSeconds if given (else never). The token is in this answer only: the tracker keeps its hash; the audit trail names the operator for each change it makes",
      schema: { body: operatorBody },
      status: 201,
      adminTokenOnly: true,
      handler: async (req) => {
        const b = req.body as IssueBody
        return commit((tx) => {
          const now = Date.now()
          const { record, token } = state.operatorTokens.issue(
            tx,
            {
              name: b.name,
              role: b.role,
              ...(b.ttlSeconds === undefined ? {} : { expiresAt: now + b.ttlSeconds * 1000 }),
            },
            now,
          )
          req.log.info(
            { operator: record.name, role: record.role, tokenId: record.id },
            'operator token issued',
          )
          return { ...operatorView(record, now), token }
        })
      },
    },
    {
      method: 'GET',
      url: '/operators',
      summary:
        'List the operator tokens, oldest first: name, role, state (active, expired, revoked), created, expiry, last used (to the minute), revoked; never the tokens. Revoked and expired ones are kept 30 days',
      handler: async () => {
        const now = Date.now()
        return view.operatorTokens.list().map((r) => operatorView(r, now))
      },
    },
    {
      method: 'DELETE',
      url: '/operators/:name',
      summary:
        "Revoke an operator's token (tracker's admin token only): from the next request on it is refused with ERR_OPERATOR_TOKEN_REVOKED; the operator may be issued a new one",
      schema: { params: operatorParams },
      status: 204,
      adminTokenOnly: true,
      handler: async (req) => {
        const operator = (req.params as P).name as string
        const revoked = (await commit((tx) => state.operatorTokens.revoke(tx, operator))) as Array<{
          id: string
        }>
        req.log.info({ operator, tokenIds: revoked.map((r) => r.id) }, 'operator token revoked')
      },
    },
  ]
}
