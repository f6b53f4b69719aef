/**
 * The catch-up retry sweep: one timer, for the earliest catch-up retry due (`catch-up.ts`),
 * whose pass sends every due retry to a connected node, drops those no longer wanted, in one
 * synced commit, then delivers. A retry due to a node offline waits for its hello
 * (`RolloutEngine.reconcile`), not for the sweep.
 */
import { logger } from '@libp2p/logger'
import { CATCH_UP_SWEEP_MIN_INTERVAL_MS } from '../constants.ts'
import type { TrackerState } from '../state/index.ts'
import {
  type CatchUpComponents,
  type CatchUpRetry,
  DEFAULT_CATCH_UP_RETRY,
  nextRetryAt,
  nextRetryOf,
  retryCatchUps,
} from './catch-up.ts'
import { DeadlineTimer } from './deadlines.ts'
import type { Announce } from './engine-types.ts'

const log = logger('dandelion:tracker:catch-up')

/** Components of the sweep. */
export interface CatchUpSweepComponents {
  state: TrackerState
  announce: Announce
  /** Hands freshly committed commands of a node to the channel. */
  deliver(nodeId: string): void
  /** Whether a node's channel is up now: only a connected node is sent a retry by the sweep. */
  isConnected(nodeId: string): boolean
}

/** Options of the sweep. */
export interface CatchUpSweepInit {
  /** @default CATCH_UP_RETRY_INITIAL_MS */
  initialMs?: number
  /** @default CATCH_UP_RETRY_MAX_MS */
  maxMs?: number
}

/** See the module comment. */
export class CatchUpSweep {
  /** The backoff, and the timer of this sweep: what the outcome handlers schedule with. */
  readonly retry: CatchUpRetry
  private readonly c: CatchUpSweepComponents & CatchUpComponents
  private readonly timer = new DeadlineTimer(() => {
    this.sweep().catch((err) => log.error('retrying catch-ups failed: %e', err))
  })
  private stopped = false

  constructor(components: CatchUpSweepComponents, init: CatchUpSweepInit = {}) {
    this.retry = {
      initialMs: init.initialMs ?? DEFAULT_CATCH_UP_RETRY.initialMs,
      maxMs: init.maxMs ?? DEFAULT_CATCH_UP_RETRY.maxMs,
      // at most one pass per interval: retries falling due together go in one commit
      schedule: (at) => this.timer.schedule(Math.max(at, Date.now() + CATCH_UP_SWEEP_MIN_INTERVAL_MS)),
    }
    this.c = { ...components, retry: this.retry }
  }

  /** One pass (see the module comment); schedules the next. */
  async sweep(): Promise<void> {
    const { state } = this.c
    // while the state is reloaded nothing is changed; the reload runs the engine's `start`
    if (this.stopped || !state.available) return
    const now = Date.now()
    const tx = state.tx()
    const touched: string[] = []
    for (const nodeId of state.releases.retryingNodes())
      if (retryCatchUps(this.c, tx, nodeId, { now, send: this.c.isConnected(nodeId) })) touched.push(nodeId)
    this.arm(now)
    if (tx.ops.length === 0) return
    await tx.commit({ sync: true })
    for (const n of touched) this.c.deliver(n)
  }

  /** Makes the sweep run when the next retry falls due (see {@link nextRetryAt}). */
  arm(now = Date.now()): void {
    const at = nextRetryAt(this.c.state, now, this.c.isConnected)
    if (at !== Number.POSITIVE_INFINITY) this.retry.schedule(at)
  }

  /**
   * {@link arm} for `nodeId`'s retries only: at every hello, walking every node's would cost
   * a reconnect storm hellos × retrying nodes.
   */
  armNode(nodeId: string, now: number, connected: boolean): void {
    const at = nextRetryOf(this.c.state, nodeId, now, connected)
    if (at !== Number.POSITIVE_INFINITY) this.retry.schedule(at)
  }

  stop(): void {
    this.stopped = true
    this.timer.stop()
  }
}
