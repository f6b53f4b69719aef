/**
 * Timed activations: a placed version switches the resource at its activation time, so
 * every classroom of a campus changes together. The journal keeps them pending across
 * restarts (`Executor.resume` schedules them again).
 */
import { logger } from '@libp2p/logger'
import { MAX_TIMER_MS } from '../node-constants.ts'
import type { AgentContentApi } from './index.ts'
import type { Journal, JournalRecord } from './journal.ts'
import type { Command, OutcomeStatus, ResourceCommand } from './protocol.ts'

const log = logger('dandelion:node:agent:exec')

/** What the activations use of the node and of the executor that makes them. */
export interface ActivationsComponents {
  content: AgentContentApi
  journal: Journal
  /** The executor's stop. */
  signal: AbortSignal
  /** Commands being applied, and activations being made (the stop's deadline names them). */
  current: Set<Command>
  /** Runs `fn` once what runs on `resource` now has ended (`ResourceTurns.take`). */
  exclusive(resource: string, fn: () => Promise<void>): Promise<void>
  /** Records a command's new status, then reports it (`Executor.finish`). */
  finish(
    rec: JournalRecord,
    status: OutcomeStatus,
    applied: boolean,
    reason?: string,
    retry?: boolean,
  ): Promise<void>
  /** Unpins a version no resource here has active or waiting for activation. */
  release(manifestCid: string, resource?: string): Promise<void>
}

/** An activation waiting for its time, by resource. */
interface Pending {
  rec: JournalRecord<ResourceCommand>
  timer: NodeJS.Timeout
}

/** See the module comment. */
export class Activations {
  private readonly components: ActivationsComponents
  private readonly timers = new Map<string, Pending>()

  constructor(components: ActivationsComponents) {
    this.components = components
  }

  /** Whether a pending activation is to switch a resource to `manifestCid`. */
  waitingFor(manifestCid: string): boolean {
    for (const t of this.timers.values()) if (t.rec.cmd.manifestCid === manifestCid) return true
    return false
  }

  /** Cancels every timer: the executor stops (the journal keeps them pending for the next start). */
  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t.timer)
    this.timers.clear()
  }

  /** Switches the resource to a placed version at its activation time (survives restarts). */
  schedule(rec: JournalRecord<ResourceCommand>): void {
    const at = rec.cmd.activateAt ?? 0
    // a Node timer waits at most MAX_TIMER_MS: a later activation waits in steps, re-armed until due
    const arm = (): NodeJS.Timeout =>
      setTimeout(
        () => {
          if (Date.now() < at) {
            entry.timer = arm()
            return
          }
          // still in `timers` until its turn: a command applied first cancels it there
          this.components
            .exclusive(rec.cmd.resource, () => this.activateNow(entry))
            .catch((err) => log.error('activation of %s failed: %e', rec.cmd.id, err))
        },
        Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
      )
    const entry = { rec, timer: arm() }
    this.timers.set(rec.cmd.resource, entry)
  }

  private async activateNow(entry: { rec: JournalRecord<ResourceCommand> }): Promise<void> {
    const { rec } = entry
    const { content, current } = this.components
    // stopped, or superseded by a command applied while this waited for its turn
    if (this.components.signal.aborted || this.timers.get(rec.cmd.resource) !== entry) return
    this.timers.delete(rec.cmd.resource)
    current.add(rec.cmd)
    try {
      // placed and pinned already: only the name switches, and the replaced version is let go
      const replaced = await content.names.get(rec.cmd.resource)
      await content.names.set(rec.cmd.resource, rec.cmd.manifestCid)
      if (replaced !== undefined && replaced !== rec.cmd.manifestCid) await this.components.release(replaced)
      await this.components.finish(rec, 'active', false, undefined, true)
    } finally {
      current.delete(rec.cmd)
    }
  }

  /** Cancels the resource's pending activation, unpinning its version unless `next` is it. */
  async cancel(resource: string, next: string): Promise<void> {
    const t = this.timers.get(resource)
    if (t === undefined) return
    clearTimeout(t.timer)
    this.timers.delete(resource)
    try {
      const rec = await this.components.journal.get(t.rec.cmd.id)
      if (rec !== undefined)
        await this.components.finish(rec, 'failed', false, 'superseded before activation')
    } catch (err) {
      // the journal still holds the activation as pending: keep it pending here too
      if (!this.components.signal.aborted) this.schedule(t.rec)
      throw err
    }
    if (t.rec.cmd.manifestCid !== next) await this.components.release(t.rec.cmd.manifestCid, resource)
  }
}
