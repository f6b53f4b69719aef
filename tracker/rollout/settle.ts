/**
 * Gate evaluation, batched: a release that had outcomes is marked, and the gates of every
 * release marked are evaluated once per event-loop turn (evaluation walks every node of a
 * release, so doing it per outcome would be quadratic in the number of nodes), in one synced
 * commit, before the commands it issued are delivered. A release whose next stage cannot be
 * issued is blocked ({@link GateSettler.onBlocked}) and evaluated again at every later pass.
 * What an evaluation writes is `stages.ts`'s; the engine (`engine.ts`) marks and schedules.
 */
import { logger } from '@libp2p/logger'
import type { TrackerState } from '../state/index.ts'
import type { Announce, ReleaseEvent } from './engine-types.ts'
import { evaluate } from './stages.ts'

const log = logger('dandelion:tracker:rollout')

/** Components of {@link GateSettler}. */
export interface GateSettlerComponents {
  state: TrackerState
  /** Announces what an evaluation changed, once committed. */
  announce: Announce
  /** Hands freshly committed commands of a node to the channel. */
  deliver(nodeId: string): void
  /** Tells of a release blocked, at once: nothing was written to wait for. */
  emitEvent(e: Omit<ReleaseEvent, 'at'>): void
}

/** See the module comment. */
export class GateSettler {
  private readonly c: GateSettlerComponents
  private readonly dirty = new Set<string>()
  /** Releases whose next stage could not be issued (see {@link onBlocked}). */
  private readonly blocked = new Set<string>()
  private settling?: Promise<void>
  private stopped = false

  constructor(components: GateSettlerComponents) {
    this.c = components
  }

  /** Marks release `id` for the next pass. */
  mark(id: string): void {
    this.dirty.add(id)
  }

  /** Whether a release waits for room to issue its next stage. */
  get anyBlocked(): boolean {
    return this.blocked.size > 0
  }

  /** Runs a pass in the next turn of the event loop, unless one is scheduled already. */
  schedule(): void {
    if (this.settling !== undefined) return
    this.settling = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.settle())
      // nobody awaits this: a rejection would be unhandled and end the tracker process
      .catch((err) => log.error('gate evaluation failed: %e', err))
  }

  /**
   * Evaluates the gates of every release marked since the last pass; new commands are
   * committed (synced) before they are delivered.
   */
  async settle(): Promise<void> {
    this.settling = undefined
    const ids = [...this.dirty]
    this.dirty.clear()
    const { state } = this.c
    // while the state is reloaded after a failed write nothing is evaluated; every running
    // release is evaluated again once it is (the engine's `start`)
    if (this.stopped || ids.length === 0 || !state.available) return
    const tx = state.tx()
    const touched: string[] = []
    for (const id of ids) {
      const r = state.releases.releases.get(id)
      // deleted meanwhile by the release sweeper (`sweeper.ts`): nothing to evaluate
      if (r === undefined) {
        this.blocked.delete(id)
        continue
      }
      try {
        touched.push(...evaluate(state, tx, r, this.c.announce))
        if (this.blocked.delete(id)) log('release %s is no longer blocked', id)
      } catch (err) {
        this.onBlocked(id, err)
      }
    }
    try {
      await tx.commit({ sync: true })
    } catch (err) {
      log.error('committing gate evaluation failed: %e', err)
      return
    }
    for (const n of touched) this.c.deliver(n)
  }

  /**
   * A passed gate could not issue the next stage, typically because a node of that stage is
   * offline with a full outbox. The release keeps running with the stage un-issued (nothing
   * was changed) and is evaluated again at every later settle (any outcome schedules one
   * while a release is blocked), so it moves on by itself once the outbox drains; `advance`
   * answers the operator with the error meanwhile. Reported
   * once per blockage: a busy tracker settles many times a second.
   */
  onBlocked(id: string, err: unknown): void {
    this.dirty.add(id)
    if (this.blocked.has(id)) {
      log('release %s still blocked: %e', id, err)
      return
    }
    this.blocked.add(id)
    log.error('release %s: cannot issue its next stage, will retry: %e', id, err)
    this.c.emitEvent({
      type: 'release.blocked',
      releaseId: id,
      code: err instanceof Error && 'code' in err ? err.code : undefined,
      reason: err instanceof Error ? err.message : String(err),
    })
  }

  /** Stops evaluating (the state is about to close). */
  stop(): void {
    this.stopped = true
  }
}
