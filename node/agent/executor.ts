/**
 * Executes commands through the node's content API, one at a time in sequence order, and
 * schedules activations: a placed version switches the resource at its activation time, so
 * every classroom of a campus changes together.
 */
import { logger } from '@libp2p/logger'
import { MAX_TIMER_MS } from '../node-constants.ts'
import type { AgentContentApi } from './index.ts'
import type { Journal, JournalRecord } from './journal.ts'
import type { OutcomeStatus } from './protocol.ts'

const log = logger('dandelion:node:agent:exec')

/** Most commands waiting for execution (the tracker's outbox bounds what it sends). */
export const MAX_EXEC_QUEUE = 1_000
/** Progress reports are sent at most this often per command. */
export const PROGRESS_INTERVAL_MS = 500

/** What the executor tells the agent. */
export interface ExecutorEvents {
  progress(id: string, p: { percent: number; peerBytes: number; originBytes: number }): void
  outcome(rec: JournalRecord): void
}

/** See the module comment. */
export class Executor {
  private readonly content: AgentContentApi
  private readonly journal: Journal
  private readonly events: ExecutorEvents
  private readonly queue: JournalRecord[] = []
  private running = false
  private readonly timers = new Map<string, { rec: JournalRecord; timer: NodeJS.Timeout }>()
  private readonly controller = new AbortController()

  constructor(components: { content: AgentContentApi; journal: Journal; events: ExecutorEvents }) {
    this.content = components.content
    this.journal = components.journal
    this.events = components.events
  }

  /** Re-queues what a previous run left: unapplied commands and pending activations. */
  async resume(): Promise<void> {
    for (const rec of await this.journal.waitingActivation()) this.schedule(rec)
    for (const rec of await this.journal.queued()) this.push(rec)
  }

  push(rec: JournalRecord): void {
    if (this.queue.length >= MAX_EXEC_QUEUE) {
      // left in the journal's queue: picked up again by resume() on the next start
      log.error('execution queue full, %s deferred', rec.cmd.id)
      return
    }
    this.queue.push(rec)
    if (!this.running) this.drain().catch((err) => log.error('execution queue failed: %e', err))
  }

  stop(): void {
    this.controller.abort()
    for (const t of this.timers.values()) clearTimeout(t.timer)
    this.timers.clear()
  }

  private async drain(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.controller.signal.aborted) {
        const rec = this.queue.shift()!
        await this.apply(rec)
      }
    } finally {
      this.running = false
    }
  }

  private async finish(
    rec: JournalRecord,
    status: OutcomeStatus,
    applied: boolean,
    reason?: string,
  ): Promise<void> {
    const next: JournalRecord = { ...rec, status, reason }
    await this.journal.update(next, applied)
    this.events.outcome(next)
  }

  private async apply(rec: JournalRecord): Promise<void> {
    const { cmd } = rec
    const signal = this.controller.signal
    try {
      // a newer command about the same resource supersedes a pending activation
      await this.cancelActivation(cmd.resource)
      switch (cmd.op) {
        case 'place': {
          let last = 0
          const bytes = { peerBytes: 0, originBytes: 0 }
          await this.content.fetch(cmd.manifestCid, {
            signal,
            onProgress: (p) => {
              bytes.peerBytes = p.peerBytes
              bytes.originBytes = p.originBytes
              const now = Date.now()
              if (now - last < PROGRESS_INTERVAL_MS) return
              last = now
              const percent =
                p.totalBytes > 0 ? Math.min(100, (100 * (p.peerBytes + p.originBytes)) / p.totalBytes) : 0
              this.events.progress(cmd.id, { percent, ...bytes })
            },
          })
          signal.throwIfAborted()
          await this.content.pin(cmd.manifestCid)
          signal.throwIfAborted()
          const placed: JournalRecord = { ...rec, ...bytes }
          if (cmd.activateAt !== undefined && cmd.activateAt > Date.now()) {
            await this.finish(placed, 'placed', true)
            this.schedule({ ...placed, status: 'placed' })
          } else {
            await this.content.names.set(cmd.resource, cmd.manifestCid)
            await this.finish(placed, 'active', true)
          }
          break
        }
        case 'activate':
          await this.content.names.set(cmd.resource, cmd.manifestCid)
          await this.finish(rec, 'active', true)
          break
        case 'deactivate':
          await this.content.names.delete(cmd.resource)
          await this.finish(rec, 'done', true)
          break
        case 'evict':
          await this.content.unpin(cmd.manifestCid)
          await this.content.evict(cmd.manifestCid)
          await this.finish(rec, 'done', true)
          break
      }
    } catch (err) {
      if (signal.aborted) return
      log.error('command %s (%s) failed: %e', cmd.id, cmd.op, err)
      // if the journal cannot record the failure either, the command stays queued in it and
      // is applied again by resume() on the next start
      const reason = err instanceof Error ? err.message : String(err)
      await this.finish(rec, 'failed', true, reason.slice(0, 500)).catch((e) =>
        log.error('journal write failed, %s left queued: %e', cmd.id, e),
      )
    }
  }

  /** Switches the resource to a placed version at its activation time (survives restarts). */
  private schedule(rec: JournalRecord): void {
    const at = rec.cmd.activateAt ?? 0
    // a Node timer waits at most MAX_TIMER_MS: a later activation waits in steps, re-armed until due
    const arm = (): NodeJS.Timeout =>
      setTimeout(
        () => {
          if (Date.now() < at) {
            entry.timer = arm()
            return
          }
          this.timers.delete(rec.cmd.resource)
          this.activateNow(rec).catch((err) => log.error('activation of %s failed: %e', rec.cmd.id, err))
        },
        Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
      )
    const entry = { rec, timer: arm() }
    this.timers.set(rec.cmd.resource, entry)
  }

  private async activateNow(rec: JournalRecord): Promise<void> {
    if (this.controller.signal.aborted) return
    await this.content.names.set(rec.cmd.resource, rec.cmd.manifestCid)
    await this.finish(rec, 'active', false)
  }

  private async cancelActivation(resource: string): Promise<void> {
    const t = this.timers.get(resource)
    if (t === undefined) return
    clearTimeout(t.timer)
    this.timers.delete(resource)
    try {
      const rec = await this.journal.get(t.rec.cmd.id)
      if (rec !== undefined) await this.finish(rec, 'failed', false, 'superseded before activation')
    } catch (err) {
      // the journal still holds the activation as pending: keep it pending here too
      if (!this.controller.signal.aborted) this.schedule(t.rec)
      throw err
    }
  }
}
