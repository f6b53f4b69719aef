/**
 * Public types of the rollout engine (`engine.ts`): its inputs, options, events and
 * components, and the shapes its parts (`stages.ts`, `outcomes.ts`, `operations.ts`) share.
 */
import type { StageSpec, TrackerState, Tx } from '../state/index.ts'
import type { ReleaseTargets } from './select.ts'

/** Input of {@link RolloutEngine.create}. */
export interface CreateReleaseInput {
  resource: string
  version: number
  targets: ReleaseTargets
  /** @default [{ percent: 100, gate: 'auto' }] */
  stages?: StageSpec[]
  ab?: { version: number; percent: number }
  activateAt?: number
  /**
   * How long a node has, from its ACK, to report an outcome before it counts as failed
   * (reason `timeout`). @default DEFAULT_OUTCOME_TIMEOUT_MS (24 h)
   */
  outcomeTimeoutMs?: number
}

/** Options of {@link RolloutEngine.operate}. */
export interface OperateOptions {
  /**
   * `advance` only: the stage index (`release.stage`) the caller saw and advances from. If
   * the release is no longer there (another or an earlier advance moved it on), the advance
   * is refused with `ERR_STAGE_MISMATCH` and nothing changes, so a retried or doubled
   * advance moves the release one stage, not two. Absent: advance from wherever it is.
   */
  from?: number
}

/** Operator operations of {@link RolloutEngine.operate}. */
export type ReleaseOperation = 'pause' | 'resume' | 'advance' | 'abort' | 'rollback' | 'compact'

/** Event emitted for dashboards (SSE). */
export interface ReleaseEvent {
  /**
   * `release.blocked`: a gate passed but the next stage could not be issued yet (`code`,
   * `reason`). `release.compacted`: its per-node states were folded into counts (`nodes`);
   * `release.deleted`: it decided nothing any more and was deleted (`rollout/sweeper.ts`).
   */
  type:
    | 'release.created'
    | 'release.stage'
    | 'release.status'
    | 'release.node'
    | 'release.blocked'
    | 'release.compacted'
    | 'release.deleted'
  releaseId: string
  at: number
  [k: string]: unknown
}

/** Components of the engine. */
export interface RolloutEngineComponents {
  state: TrackerState
  /** Hands freshly committed commands of a node to the channel. */
  deliver(nodeId: string): void
  /**
   * Whether a node's channel is up now. An abort withdraws the unACKed commands of nodes
   * that are not connected (`withdraw.ts`). @default no node is (an engine without a channel)
   */
  isConnected?(nodeId: string): boolean
}

/** Options of the engine. */
export interface RolloutEngineInit {
  /**
   * Delay before a late member whose catch-up failed is sent its `place` again, doubled at
   * each further failure (`catch-up.ts`). @default CATCH_UP_RETRY_INITIAL_MS (10 minutes)
   */
  catchUpRetryInitialMs?: number
  /** Longest delay between two catch-up attempts. @default CATCH_UP_RETRY_MAX_MS (24 hours) */
  catchUpRetryMaxMs?: number
}

/** Announces `e` once `tx` is committed, never before and never if its commit fails. */
export type Announce = (tx: Tx, e: Omit<ReleaseEvent, 'at'>) => void
