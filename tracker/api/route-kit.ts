/**
 * What every admin API route is made of: the route's declaration ({@link RouteDef}), what
 * the routes use, and the helpers they share (reading what is on disk, committing a change,
 * the `?limit` of a list). The routes themselves are in `inventory-routes.ts`,
 * `catalog-routes.ts` and `release-routes.ts`; `routes.ts` puts them in one table.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Backups } from '../backups.ts'
import type { ChannelServer } from '../channel/server.ts'
import type { NodeEvents } from '../node-events.ts'
import type { RolloutEngine } from '../rollout/engine.ts'
import type { Repositories, TrackerState, Tx } from '../state/index.ts'
import * as S from './schemas.ts'

/** A route of the admin API. */
export interface RouteDef {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  url: string
  summary: string
  schema?: { body?: object; params?: object; querystring?: object }
  /** The body may be left out (the OpenAPI document says it is not required). @default false */
  bodyOptional?: boolean
  /** Request headers the route reads, for the OpenAPI document (checked by the handler). */
  headers?: Record<string, object>
  status?: number
  /**
   * Changes through it take the tracker's own admin token only, not an operator's (issuing
   * and revoking operator tokens, `api/auth.ts`). @default false
   */
  adminTokenOnly?: boolean
  handler(req: FastifyRequest, reply: FastifyReply): Promise<unknown>
}

/** What the routes use. */
export interface RoutesComponents {
  state: TrackerState
  engine: RolloutEngine
  channel: ChannelServer
  /** The tracker's backups; none for a tracker in memory. */
  backups?: Backups
  /** Where node events are announced (`node-events.ts`). */
  nodeEvents: NodeEvents
}

/** {@link RoutesComponents}, with what every group of routes derives from them. */
export interface RouteContext extends RoutesComponents {
  /**
   * What is on disk (`state.committed`): readers read it; a change is made on the writers'
   * state (`state.inventory` …) and shows here once its commit succeeded, never before, nor
   * if it fails.
   */
  view: Pick<
    Repositories,
    'inventory' | 'enrollmentTokens' | 'operatorTokens' | 'audit' | 'catalog' | 'releases' | 'scrubs'
  >
  /** Runs `fn` in a transaction, commits it synced, and returns what `fn` returned. */
  commit(fn: (tx: Tx) => unknown): Promise<unknown>
}

/** The context of {@link RoutesComponents}. */
export function routeContext(c: RoutesComponents): RouteContext {
  const { state } = c
  return {
    ...c,
    view: state.committed,
    commit: async (fn) => {
      const tx = state.tx()
      const out = fn(tx)
      await tx.commit({ sync: true })
      return out
    },
  }
}

/** Route params. */
export type P = Record<string, string>
type Q = { limit: number }

/** The first `?limit` of `items`. */
export const limit = <T>(items: Iterable<T>, req: FastifyRequest): T[] =>
  [...items].slice(0, (req.query as Q).limit)

/** The schema of a list: its `?limit`. */
export const list = { querystring: S.listQuery }
/** The schema of a route on one item: its `:id`. */
export const byId = { params: S.idParams }
