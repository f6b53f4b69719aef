/**
 * The release sweeper: applies the retention rule (`retention.ts`) periodically. Each pass
 * compacts the releases that are due (up to a bound of per-node states; the states of nodes
 * that still hold a release open are kept, and folded by a later pass), drops the members
 * kept by compacted releases that decide nothing any more, and deletes the oldest of those
 * while the tracker holds more releases than it keeps as history. Every change goes through
 * the state's transactions (one per compacted release, deletions in small batches), so a
 * crash or a failed write leaves a state a restart loads as it is; a pass stops between two
 * of them when the tracker stops.
 */
import { logger } from '@libp2p/logger'
import {
  DEFAULT_RELEASE_RETENTION_MS,
  RELEASE_HISTORY_SHARE,
  RELEASE_SWEEP_BUSY_MS,
  RELEASE_SWEEP_FIRST_MS,
  RELEASE_SWEEP_INTERVAL_MS,
  RELEASE_SWEEP_MAX_DELETES,
  RELEASE_SWEEP_MAX_NODES,
} from '../constants.ts'
import type { TrackerState } from '../state/index.ts'
import type { Announce } from './engine-types.ts'
import { compactRelease, dueForCompaction, retiredReleases } from './retention.ts'

const log = logger('dandelion:tracker:retention')

/** Releases deleted per transaction: each deletion also deletes the release's keys. */
const DELETES_PER_TX = 100

/** Components of {@link ReleaseSweeper}. */
export interface ReleaseSweeperComponents {
  state: TrackerState
  /** Tells dashboards (SSE) of each release compacted or deleted, once committed. */
  announce?: Announce
}

/** Options of {@link ReleaseSweeper}. */
export interface ReleaseSweeperInit {
  /**
   * How long a finished release keeps its per-node states before it is compacted; 0 keeps
   * every release as it is, for ever (nothing is compacted or deleted).
   * @default DEFAULT_RELEASE_RETENTION_MS (30 days)
   */
  retentionMs?: number
  /** Time between passes. @default RELEASE_SWEEP_INTERVAL_MS (10 minutes) */
  intervalMs?: number
  /**
   * Compacted releases that decide nothing are deleted while the tracker holds more releases
   * than this. @default RELEASE_HISTORY_SHARE of the state's `maxReleases` (1,000)
   */
  keepReleases?: number
  /** Per-node states folded per pass at most. @default RELEASE_SWEEP_MAX_NODES */
  maxNodesPerPass?: number
  /** Releases deleted per pass at most. @default RELEASE_SWEEP_MAX_DELETES */
  maxDeletesPerPass?: number
}

/** Options of {@link ReleaseSweeper.sweep}. */
export interface SweepOptions {
  /** The time the pass takes as now (epoch ms). @default Date.now() */
  now?: number
  signal?: AbortSignal
}

/** What one pass did. */
export interface SweepResult {
  /**
   * Releases compacted (or compacted again, folding late members, or nodes held open when it
   * was compacted that no longer are).
   */
  compacted: number
  /** Per-node states folded into counts and dropped. */
  nodes: number
  /** Compacted releases whose members were dropped: they decide nothing any more. */
  retired: number
  /** Releases deleted. */
  deleted: number
  /** The pass stopped at a bound (or was stopped) with work left. */
  more: boolean
}

/** See the module comment. */
export class ReleaseSweeper {
  /** How long a finished release keeps its per-node states (0: for ever). */
  readonly retentionMs: number
  private readonly state: TrackerState
  private readonly announce: Announce
  private readonly intervalMs: number
  private readonly keepReleases?: number
  private readonly maxNodes: number
  private readonly maxDeletes: number
  private readonly stopping = new AbortController()
  private timer?: NodeJS.Timeout
  /** The pass in progress (passes never overlap). */
  private running: Promise<unknown> = Promise.resolve()

  constructor(components: ReleaseSweeperComponents, init: ReleaseSweeperInit = {}) {
    this.state = components.state
    this.announce = components.announce ?? (() => {})
    this.retentionMs = init.retentionMs ?? DEFAULT_RELEASE_RETENTION_MS
    this.intervalMs = init.intervalMs ?? RELEASE_SWEEP_INTERVAL_MS
    this.keepReleases = init.keepReleases
    this.maxNodes = init.maxNodesPerPass ?? RELEASE_SWEEP_MAX_NODES
    this.maxDeletes = init.maxDeletesPerPass ?? RELEASE_SWEEP_MAX_DELETES
  }

  /** Schedules passes (none with a retention of 0). */
  start(): void {
    if (this.retentionMs === 0 || this.stopping.signal.aborted) return
    this.schedule(Math.min(this.intervalMs, RELEASE_SWEEP_FIRST_MS))
  }

  /** Stops scheduling passes and ends the one in progress after its current step. */
  async stop(): Promise<void> {
    this.stopping.abort()
    clearTimeout(this.timer)
    this.timer = undefined
    await this.running.catch(() => {})
  }

  private schedule(delay: number): void {
    if (this.stopping.signal.aborted) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.sweep()
        .then((r) => this.schedule(r.more ? RELEASE_SWEEP_BUSY_MS : this.intervalMs))
        .catch((err) => {
          // a failed write (the state reloads), or the tracker stopping: try again later
          if (!this.stopping.signal.aborted) log.error('release sweep failed: %e', err)
          this.schedule(this.intervalMs)
        })
    }, delay)
    // a pending sweep must not keep a stopping process alive
    this.timer.unref()
  }

  /**
   * Runs one pass now (after the one in progress, if any). Rejects with the state's
   * `StateUnavailableError` if a write fails; what was committed before stays.
   */
  sweep(options: SweepOptions = {}): Promise<SweepResult> {
    const pass = this.running.catch(() => {}).then(() => this.pass(options))
    this.running = pass
    return pass
  }

  private async pass(options: SweepOptions): Promise<SweepResult> {
    const result: SweepResult = { compacted: 0, nodes: 0, retired: 0, deleted: 0, more: false }
    const signal =
      options.signal === undefined
        ? this.stopping.signal
        : AbortSignal.any([this.stopping.signal, options.signal])
    if (this.retentionMs === 0 || signal.aborted || !this.state.available) return result
    const now = options.now ?? Date.now()
    // by id: a failed write replaces the writers' repositories, and their objects with them
    for (const id of [...this.state.releases.releases.keys()]) {
      if (signal.aborted || result.nodes >= this.maxNodes) {
        result.more = true
        return result
      }
      const r = this.state.releases.releases.get(id)
      if (r === undefined || !dueForCompaction(this.state, r, now, this.retentionMs)) continue
      const tx = this.state.tx()
      const n = compactRelease(this.state, tx, r, now)
      this.announce(tx, { type: 'release.compacted', releaseId: id, nodes: n })
      // not synced: compacting again after a crash is the same
      await tx.commit()
      result.compacted++
      result.nodes += n
      log('release %s compacted: %d node state(s) folded', id, n)
    }
    if (signal.aborted) return { ...result, more: true }
    await this.retire(result, signal)
    return result
  }

  /** Drops what compacted releases that decide nothing keep, and deletes the oldest of them. */
  private async retire(result: SweepResult, signal: AbortSignal): Promise<void> {
    const { releases } = this.state
    const retired = retiredReleases(this.state)
    const tx = this.state.tx()
    for (const r of retired)
      if (releases.membersOf(r.id) !== undefined) {
        releases.setMembers(tx, r.id, undefined)
        result.retired++
      }
    await tx.commit()
    const keep = this.keepReleases ?? Math.floor(releases.maxReleases * RELEASE_HISTORY_SHARE)
    const excess = Math.min(releases.releases.size - keep, this.maxDeletes)
    const doomed = retired.slice(0, Math.max(0, excess)).map((r) => r.id)
    for (let i = 0; i < doomed.length; i += DELETES_PER_TX) {
      // stopped, or the writers' state was reloaded after a failed write: what was found
      // retired is to be found again
      if (signal.aborted || this.state.releases !== releases) {
        result.more = true
        return
      }
      const tx = this.state.tx()
      for (const id of doomed.slice(i, i + DELETES_PER_TX))
        if (releases.releases.has(id)) {
          releases.delete(tx, id)
          this.announce(tx, { type: 'release.deleted', releaseId: id })
          result.deleted++
        }
      await tx.commit()
    }
    if (result.deleted > 0) log('%d release(s) that decided nothing deleted', result.deleted)
    result.more ||= result.deleted === this.maxDeletes && releases.releases.size > keep
  }
}
