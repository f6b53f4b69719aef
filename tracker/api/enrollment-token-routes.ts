/**
 * Admin API routes of the enrollment tokens an operator issues (`state/enrollment-tokens.ts`):
 * one per campus, school or batch of machines, each expiring, maybe for a number of nodes,
 * revocable, where the tracker's shared token (its `--enrollment-token`) is one for every
 * campus that lasts until the tracker is restarted with another.
 */
import { DEFAULT_ENROLLMENT_TOKEN_TTL_MS } from '../constants.ts'
import { NotFoundError } from '../errors.ts'
import { tokenView } from '../state/enrollment-tokens.ts'
import type { P, RouteContext, RouteDef } from './route-kit.ts'
import * as S from './schemas.ts'

interface IssueBody {
  campus?: string
  ttlSeconds?: number
  maxUses?: number
  note?: string
}

/** The enrollment tokens' routes. */
export function enrollmentTokenRoutes(c: RouteContext): RouteDef[] {
  const { state, view, commit } = c
  return [
    {
      method: 'POST',
      url: '/enrollment-tokens',
      summary:
        'Issue an enrollment token (for one campus if given; expiring after ttlSeconds, 7 days unless given; for maxUses nodes if given). The token is in this answer only: the tracker keeps its hash',
      schema: { body: S.enrollmentTokenBody },
      bodyOptional: true,
      status: 201,
      handler: async (req) => {
        const b = (req.body ?? {}) as IssueBody
        return commit((tx) => {
          // a token for a campus that does not exist would enroll nothing
          if (b.campus !== undefined && !state.inventory.campuses.has(b.campus))
            throw new NotFoundError(`campus ${b.campus}`)
          const now = Date.now()
          const { record, token } = state.enrollmentTokens.issue(
            tx,
            {
              campus: b.campus,
              note: b.note,
              maxUses: b.maxUses,
              expiresAt:
                now + (b.ttlSeconds === undefined ? DEFAULT_ENROLLMENT_TOKEN_TTL_MS : b.ttlSeconds * 1000),
            },
            now,
          )
          req.log.info({ tokenId: record.id, campus: record.campus }, 'enrollment token issued')
          return { ...tokenView(record, now), token }
        })
      },
    },
    {
      method: 'GET',
      url: '/enrollment-tokens',
      summary:
        'List the issued enrollment tokens, oldest first, with their state (active, expired, used-up) and uses; never the tokens',
      handler: async () => {
        const now = Date.now()
        return view.enrollmentTokens.list().map((r) => tokenView(r, now))
      },
    },
    {
      method: 'GET',
      url: '/enrollment-tokens/:id',
      summary: 'One issued enrollment token (never the token itself)',
      schema: { params: S.enrollmentTokenParams },
      handler: async (req) => tokenView(view.enrollmentTokens.get((req.params as P).id)),
    },
    {
      method: 'DELETE',
      url: '/enrollment-tokens/:id',
      summary:
        'Revoke an issued enrollment token: it enrolls nothing more; the nodes it enrolled stay enrolled',
      schema: { params: S.enrollmentTokenParams },
      status: 204,
      handler: async (req) => {
        const id = (req.params as P).id
        await commit((tx) => state.enrollmentTokens.revoke(tx, id))
        req.log.info({ tokenId: id }, 'enrollment token revoked')
      },
    },
  ]
}
