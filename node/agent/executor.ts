/**
 * Executes commands through the node's content API, one at a time in sequence order, and
 * schedules activations: a placed version switches the resource at its activation time, so
 * every classroom of a campus changes together.
 */
import { logger } from '@libp2p/logger'
import { MAX_TIMER_MS } from '../node-constants.ts'
import type { AgentContentApi, FetchProgress } from './index.ts'
import type { Journal, JournalRecord } from './journal.ts'
import { type Command, isKnownOp, MAX_REASON_CHARS, type OutcomeStatus } from './protocol.ts'

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
  /** The drain loop while it runs. */
  private draining: Promise<void> = Promise.resolve()
  private readonly timers = new Map<string, { rec: JournalRecord; timer: NodeJS.Timeout }>()
  private readonly controller = new AbortController()
  /** Per resource, the end of what runs on it now: commands and due activations take turns ({@link exclusive}). */
  private readonly turns = new Map<string, Promise<void>>()
  /** The `place` fetching now, until it commits (pinned, about to be named or scheduled). */
  private placing?: { cmd: Command; controller: AbortController }

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
    // a rollback must not wait for the download it replaces, nor serve it in between
    if (this.placing !== undefined && supersedes(rec.cmd, this.placing.cmd)) {
      log('%s supersedes the placement %s in progress', rec.cmd.id, this.placing.cmd.id)
      this.placing.controller.abort()
    }
    if (!this.running)
      this.draining = this.drain().catch((err) => log.error('execution queue failed: %e', err))
  }

  /**
   * Starts nothing more and aborts what runs; resolves once it has ended. A step the signal
   * cannot stop (a pin, a name switch) finishes and its journal write is made: before, the
   * agent closed the journal and the daemon stopped the node while it ran, the write failed
   * and a command already applied was applied again at the next start.
   */
  async stop(): Promise<void> {
    this.controller.abort()
    for (const t of this.timers.values()) clearTimeout(t.timer)
    this.timers.clear()
    await this.draining
    // due activations that were already waiting for their turn (they see the abort and return)
    await Promise.all(this.turns.values())
  }

  private async drain(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.controller.signal.aborted) {
        const rec = this.queue.shift()!
        await this.exclusive(rec.cmd.resource, () => this.apply(rec))
      }
    } finally {
      this.running = false
    }
  }

  /**
   * Runs `fn` once what runs on `resource` now has ended. A command and a due activation of
   * the same resource both set its name: an activation that fired while a newer command was
   * being applied switched the resource back to the older version between that command's
   * steps, and the node ran it while the tracker was told the newer one was active. In
   * turns, an activation a command superseded finds itself cancelled. Other resources do
   * not wait: a lesson's activation at 8:00 is not held up by another lesson's download.
   */
  private exclusive(resource: string, fn: () => Promise<void>): Promise<void> {
    const run = (this.turns.get(resource) ?? Promise.resolve()).then(fn)
    const end = run.catch(() => {})
    this.turns.set(resource, end)
    end.then(() => {
      if (this.turns.get(resource) === end) this.turns.delete(resource)
    })
    return run
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
    let signal = this.controller.signal
    let superseded: AbortSignal | undefined
    if (cmd.op === 'place') {
      const controller = new AbortController()
      this.placing = { cmd, controller }
      superseded = controller.signal
      signal = AbortSignal.any([signal, superseded])
    }
    try {
      // a command of a newer tracker: refused by name, nothing else touched
      if (!isKnownOp(cmd.op))
        throw new Error(
          `this node does not know the command "${cmd.op}": it runs an older Dandelion than its tracker; upgrade it`,
        )
      // a newer command about the same resource supersedes a pending activation
      await this.cancelActivation(cmd.resource, cmd.manifestCid)
      switch (cmd.op) {
        case 'place': {
          let last = 0
          const bytes = { peerBytes: 0, originBytes: 0 }
          const onProgress = (p: FetchProgress): void => {
            bytes.peerBytes = p.peerBytes
            bytes.originBytes = p.originBytes
            const now = Date.now()
            if (now - last < PROGRESS_INTERVAL_MS) return
            last = now
            const percent =
              p.totalBytes > 0 ? Math.min(100, (100 * (p.peerBytes + p.originBytes)) / p.totalBytes) : 0
            this.events.progress(cmd.id, { percent, ...bytes })
          }
          if (cmd.activateAt !== undefined && cmd.activateAt > Date.now()) {
            // the active version is served until the activation time: it stays pinned
            await this.hold(cmd.resource, cmd.manifestCid, undefined, signal, onProgress)
            const placed: JournalRecord = { ...rec, ...bytes }
            await this.finish(placed, 'placed', true)
            this.schedule({ ...placed, status: 'placed' })
          } else {
            await this.switchTo(cmd.resource, cmd.manifestCid, signal, onProgress)
            await this.finish({ ...rec, ...bytes }, 'active', true)
          }
          break
        }
        case 'activate':
          // the version may have been let go and evicted since it was placed (a rollback)
          await this.switchTo(cmd.resource, cmd.manifestCid, signal)
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
      // stopped: left queued in the journal, applied again by resume() on the next start
      if (this.controller.signal.aborted) return
      let reason: string
      if (superseded?.aborted === true) reason = 'superseded'
      else {
        log.error('command %s (%s) failed: %e', cmd.id, cmd.op, err)
        reason = (err instanceof Error ? err.message : String(err)).slice(0, MAX_REASON_CHARS)
      }
      // if the journal cannot record the failure either, the command stays queued in it and
      // is applied again by resume() on the next start
      await this.finish(rec, 'failed', true, reason).catch((e) =>
        log.error('journal write failed, %s left queued: %e', cmd.id, e),
      )
    } finally {
      if (this.placing?.cmd === cmd) this.placing = undefined
    }
  }

  /**
   * Makes `manifestCid` the resource's active version: held and pinned first, then named,
   * then the version it replaces unpinned. Its data stays: eviction takes it when room is
   * needed, and a rollback fetches it again.
   */
  private async switchTo(
    resource: string,
    manifestCid: string,
    signal: AbortSignal,
    onProgress?: (p: FetchProgress) => void,
  ): Promise<void> {
    const replaced = await this.content.names.get(resource)
    // hold() commits the placement: from here it is no longer aborted by a newer command
    await this.hold(
      resource,
      manifestCid,
      replaced === manifestCid ? undefined : replaced,
      signal,
      onProgress,
    )
    await this.content.names.set(resource, manifestCid)
    if (replaced !== undefined && replaced !== manifestCid) await this.release(replaced)
  }

  /**
   * Fetches and pins a version. When the store refuses it (a device's quota full of pinned
   * content) and it is to replace `replaced`, that one is let go and the fetch carries on:
   * a device that cannot hold both must be able to evict the old version to take the new.
   * A download that still fails is evicted, so it neither holds room nor resumes at the
   * next start (the node keeps a refused download for its own retries; the tracker, told
   * of the failure, decides whether to send it again), and `replaced` is pinned again.
   * A placement superseded by a newer command is dropped the same way. Once pinned, the
   * placement commits: a newer command no longer aborts it.
   */
  private async hold(
    resource: string,
    manifestCid: string,
    replaced: string | undefined,
    signal: AbortSignal,
    onProgress?: (p: FetchProgress) => void,
  ): Promise<void> {
    let letGo = false
    let pinned = false
    try {
      try {
        await this.content.fetch(manifestCid, { signal, onProgress })
      } catch (err) {
        if (!isStoreWriteError(err) || replaced === undefined || signal.aborted) throw err
        log('no room for %s beside %s: letting the replaced version go', manifestCid, replaced)
        letGo = true
        // still the resource's name until the switch: only another resource's use keeps it
        if (!(await this.inUse(replaced, undefined, resource))) await this.content.unpin(replaced)
        await this.content.fetch(manifestCid, { signal, onProgress })
      }
      signal.throwIfAborted()
      await this.content.pin(manifestCid)
      pinned = true
      // checked again after the pin, which a newer command may have arrived during
      signal.throwIfAborted()
      this.placing = undefined
    } catch (err) {
      // aborted while the executor runs: superseded by a newer command for the resource
      const superseded = signal.aborted && !this.controller.signal.aborted
      if ((isStoreWriteError(err) && !signal.aborted) || superseded) {
        if (!(await this.inUse(manifestCid, resource)))
          await (pinned ? this.content.unpin(manifestCid) : Promise.resolve())
            .then(() => this.content.evict(manifestCid))
            .catch((e) => log.error('evicting the dropped download %s failed: %e', manifestCid, e))
        if (letGo && replaced !== undefined)
          await this.content.pin(replaced).catch((e) => log.error('pinning %s again failed: %e', replaced, e))
      }
      throw err
    }
  }

  /** Unpins a version no resource here has active or waiting for activation. */
  private async release(manifestCid: string, resource?: string): Promise<void> {
    if (await this.inUse(manifestCid, resource)) return
    await this.content.unpin(manifestCid)
  }

  /**
   * Whether a resource has `manifestCid` active or placed and waiting for activation
   * (`resource` is checked even where the name table cannot be listed; `except`'s entry is
   * ignored).
   */
  private async inUse(manifestCid: string, resource?: string, except?: string): Promise<boolean> {
    for (const t of this.timers.values()) if (t.rec.cmd.manifestCid === manifestCid) return true
    if (resource !== undefined && (await this.content.names.get(resource)) === manifestCid) return true
    const names = (await this.content.names.list?.()) ?? []
    return names.some((n) => n.manifestCid === manifestCid && n.name !== except)
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
          // still in `timers` until its turn: a command applied first cancels it there
          this.exclusive(rec.cmd.resource, () => this.activateNow(entry)).catch((err) =>
            log.error('activation of %s failed: %e', rec.cmd.id, err),
          )
        },
        Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())),
      )
    const entry = { rec, timer: arm() }
    this.timers.set(rec.cmd.resource, entry)
  }

  private async activateNow(entry: { rec: JournalRecord }): Promise<void> {
    const { rec } = entry
    // stopped, or superseded by a command applied while this waited for its turn
    if (this.controller.signal.aborted || this.timers.get(rec.cmd.resource) !== entry) return
    this.timers.delete(rec.cmd.resource)
    // placed and pinned already: only the name switches, and the replaced version is let go
    const replaced = await this.content.names.get(rec.cmd.resource)
    await this.content.names.set(rec.cmd.resource, rec.cmd.manifestCid)
    if (replaced !== undefined && replaced !== rec.cmd.manifestCid) await this.release(replaced)
    await this.finish(rec, 'active', false)
  }

  /** Cancels the resource's pending activation, unpinning its version unless `next` is it. */
  private async cancelActivation(resource: string, next: string): Promise<void> {
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
    if (t.rec.cmd.manifestCid !== next) await this.release(t.rec.cmd.manifestCid, resource)
  }
}

/**
 * Whether `next` makes the placement `placing` of the same resource moot: a deactivate, a
 * switch to another version, or the eviction of the version being placed.
 */
function supersedes(next: Command, placing: Command): boolean {
  if (!isKnownOp(next.op) || next.resource !== placing.resource || next.id === placing.id) return false
  if (next.op === 'deactivate') return true
  if (next.op === 'evict') return next.manifestCid === placing.manifestCid
  return next.manifestCid !== placing.manifestCid
}

/** A fetch the node's store refused (matched by name: see `node/swarm/errors.ts`). */
function isStoreWriteError(err: unknown): boolean {
  return err instanceof Error && err.name === 'StoreWriteError'
}
