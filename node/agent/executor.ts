/**
 * Executes commands through the node's content API, one at a time in sequence order, and
 * schedules activations: a placed version switches the resource at its activation time, so
 * every classroom of a campus changes together. The versions' fetch, pin and switch are in
 * `versions.ts`, the activation timers in `activations.ts`; the executor orders their turns
 * (`resource-turns.ts`). What the tracker hears of a download is `place-progress.ts`.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { logger } from '@libp2p/logger'
import { Activations } from './activations.ts'
import { JOURNAL_RETRY_INITIAL_MS, JOURNAL_RETRY_MAX_MS } from './constants.ts'
import type { AgentContentApi } from './index.ts'
import type { Journal, JournalRecord } from './journal.ts'
import { throttledProgress } from './place-progress.ts'
import {
  type Command,
  isKnownOp,
  isResourceCommand,
  MAX_REASON_CHARS,
  type OutcomeStatus,
  type ResourceCommand,
  type ScrubFindings,
} from './protocol.ts'
import { judgeRecovered } from './recovery.ts'
import { ResourceTurns } from './resource-turns.ts'
import { Versions } from './versions.ts'

const log = logger('dandelion:node:agent:exec')

/** Most commands waiting for execution (the tracker's outbox bounds what it sends). */
export const MAX_EXEC_QUEUE = 1_000

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
  /** Ids queued or being applied: a command sent again is not queued twice. */
  private readonly held = new Set<string>()
  /** Commands being applied, and activations being made (the stop's deadline names them). */
  private readonly current = new Set<Command>()
  private running = false
  /** The drain loop while it runs. */
  private draining: Promise<void> = Promise.resolve()
  private readonly controller = new AbortController()
  /** Placed versions waiting for their activation time. */
  private readonly activations: Activations
  /** Fetches, pins and switches the resources' versions. */
  private readonly versions: Versions
  /** Commands and due activations of a resource take turns (`resource-turns.ts`). */
  private readonly turns = new ResourceTurns()
  /** The `place` fetching now, until it commits (pinned, about to be named or scheduled). */
  private placing?: { cmd: Command; controller: AbortController }
  /** Commands about the node as a whole being applied beside the queue (see {@link aside}). */
  private readonly asides = new Set<Promise<void>>()

  constructor(components: { content: AgentContentApi; journal: Journal; events: ExecutorEvents }) {
    this.content = components.content
    this.journal = components.journal
    this.events = components.events
    this.activations = new Activations({
      content: this.content,
      journal: this.journal,
      signal: this.controller.signal,
      current: this.current,
      exclusive: (resource, fn) => this.turns.take(resource, fn),
      finish: (rec, status, applied, reason, retry) => this.finish(rec, status, applied, reason, retry),
      release: (manifestCid, resource) => this.versions.release(manifestCid, resource),
    })
    this.versions = new Versions({
      content: this.content,
      signal: this.controller.signal,
      waitingFor: (manifestCid) => this.activations.waitingFor(manifestCid),
      committed: () => {
        this.placing = undefined
      },
    })
  }

  /** Re-queues what a previous run left: unapplied commands and pending activations. */
  async resume(): Promise<void> {
    for (const rec of await this.journal.waitingActivation()) this.activations.schedule(rec)
    for (const rec of await this.journal.queued()) this.push(rec)
  }

  /** Whether `id` is queued or being applied. */
  holds(id: string): boolean {
    return this.held.has(id)
  }

  push(rec: JournalRecord): void {
    if (this.held.has(rec.cmd.id)) return
    if (this.queue.length + this.asides.size >= MAX_EXEC_QUEUE) {
      // left in the journal's queue: queued when the tracker sends it again, or by resume()
      // at the next start
      log.error('execution queue full, %s deferred', rec.cmd.id)
      return
    }
    this.held.add(rec.cmd.id)
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
   *
   * A step that ignores the signal for good (a content call on a hung disk) held the
   * daemon's shutdown for ever: after `deadlineMs` this resolves anyway with the command
   * still running (its journal record stays `received`: it is applied again at the next
   * start, and the steps of the latest command of a resource are idempotent).
   */
  async stop(deadlineMs = Infinity): Promise<{ ended: true } | { ended: false; running: Command[] }> {
    this.controller.abort()
    this.activations.clear()
    // due activations that were already waiting for their turn (they see the abort and return)
    const ended = this.draining
      .then(() => this.turns.settled())
      .then(() => Promise.all(this.asides))
      .then(() => 'ended' as const)
    if (deadlineMs === Infinity) {
      await ended
      return { ended: true }
    }
    // aborted once the race is decided: the timer does not outlive the stop
    const deadline = new AbortController()
    const timeout = sleep(deadlineMs, 'timeout' as const, { signal: deadline.signal }).catch(
      () => 'timeout' as const,
    )
    try {
      return (await Promise.race([ended, timeout])) === 'ended'
        ? { ended: true }
        : { ended: false, running: [...this.current] }
    } finally {
      deadline.abort()
    }
  }

  private async drain(): Promise<void> {
    this.running = true
    try {
      while (this.queue.length > 0 && !this.controller.signal.aborted) {
        const rec = this.queue.shift()!
        if (!isResourceCommand(rec.cmd)) {
          this.aside(rec)
          continue
        }
        const { resource } = rec.cmd
        try {
          await this.turns.take(resource, () => this.apply(rec))
        } finally {
          this.held.delete(rec.cmd.id)
        }
      }
    } finally {
      this.running = false
    }
  }

  /**
   * Applies a command about the node as a whole (`scrub`, or an op this node does not know)
   * beside the queue: a scrub pass reads the whole store and can take hours on a big campus
   * node, and a `place` or an `activate` queued after it must not wait for it. It stays held
   * until it ends, so a copy the tracker sends again (a reconnect's replay) is not applied a
   * second time (`CommandHandler.onCommand`).
   */
  private aside(rec: JournalRecord): void {
    const run = this.apply(rec).finally(() => {
      this.held.delete(rec.cmd.id)
      this.asides.delete(run)
    })
    this.asides.add(run)
  }

  /**
   * Records a command's new status, then reports it. With `retry`, a write the journal
   * refuses (a full disk) is made again, 0.1 s later doubling up to 5 s, until it is on
   * disk or the executor stops, holding the commands behind it (they must not be applied
   * before it is recorded). Before, the command stayed `received`: the tracker's resends
   * were only ACKed, and it waited for the next start to be applied again.
   */
  private async finish(
    rec: JournalRecord,
    status: OutcomeStatus,
    applied: boolean,
    reason?: string,
    retry = false,
  ): Promise<void> {
    const next: JournalRecord = { ...rec, status, reason }
    for (let wait = JOURNAL_RETRY_INITIAL_MS; ; wait = Math.min(2 * wait, JOURNAL_RETRY_MAX_MS)) {
      try {
        await this.journal.update(next, applied)
        break
      } catch (err) {
        if (!retry || this.controller.signal.aborted) throw err
        log.error('recording %s of %s failed, again in %d ms: %e', status, rec.cmd.id, wait, err)
        await sleep(wait, undefined, { signal: this.controller.signal }).catch(() => {})
      }
    }
    this.events.outcome(next)
  }

  private async apply(rec: JournalRecord): Promise<void> {
    const { cmd } = rec
    this.current.add(cmd)
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
      // about the node as a whole: no resource to judge or to cancel activations of (a pass
      // run again after a damaged journal only reads the store once more)
      if (!isResourceCommand(cmd)) return await this.scrub(rec, signal)
      // received while the journal recovers from damage: perhaps applied already
      const verdict =
        rec.recovered === true ? await this.judge(rec as JournalRecord<ResourceCommand>) : undefined
      if (verdict?.kind === 'refuse') return await this.finish(rec, 'failed', true, verdict.reason, true)
      // a newer command about the same resource supersedes a pending activation
      await this.activations.cancel(cmd.resource, cmd.manifestCid)
      if (verdict?.kind === 'in-place') return await this.finish(rec, verdict.status, true, undefined, true)
      switch (cmd.op) {
        case 'place': {
          const { onProgress, bytes } = throttledProgress((p) => this.events.progress(cmd.id, p))
          if (cmd.activateAt !== undefined && cmd.activateAt > Date.now()) {
            // the active version is served until the activation time: it stays pinned
            await this.versions.hold(cmd.resource, cmd.manifestCid, undefined, signal, onProgress)
            const placed: JournalRecord<ResourceCommand> = { ...rec, cmd, ...bytes }
            await this.finish(placed, 'placed', true, undefined, true)
            this.activations.schedule({ ...placed, status: 'placed' })
          } else {
            await this.versions.switchTo(cmd.resource, cmd.manifestCid, signal, onProgress)
            await this.finish({ ...rec, ...bytes }, 'active', true, undefined, true)
          }
          break
        }
        case 'activate':
          // the version may have been let go and evicted since it was placed (a rollback)
          await this.versions.switchTo(cmd.resource, cmd.manifestCid, signal)
          await this.finish(rec, 'active', true, undefined, true)
          break
        case 'deactivate':
          await this.content.names.delete(cmd.resource)
          await this.finish(rec, 'done', true, undefined, true)
          break
        case 'evict':
          await this.content.unpin(cmd.manifestCid)
          await this.content.evict(cmd.manifestCid)
          await this.finish(rec, 'done', true, undefined, true)
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
      // recorded once the journal takes it (retried); stopped meanwhile, the command stays
      // queued in the journal and is applied again by resume() on the next start
      await this.finish(rec, 'failed', true, reason, true).catch((e) =>
        log.error('stopped before the failure of %s was recorded, left queued: %e', cmd.id, e),
      )
    } finally {
      if (this.placing?.cmd === cmd) this.placing = undefined
      this.current.delete(cmd)
    }
  }

  /**
   * A scrub pass over the node's store now (or the one under way, joined), reported `done`
   * with what it found, in words in the reason and as counts. A node that does not scrub
   * throws, and the command fails with why.
   */
  private async scrub(rec: JournalRecord, signal: AbortSignal): Promise<void> {
    if (this.content.scrub === undefined)
      throw new Error('this node does not scrub: its agent was given no way to run a pass')
    const found = await this.content.scrub({ signal })
    const scrub = {
      chunksChecked: found.chunksChecked,
      corruptFound: found.corruptFound,
      readErrors: found.readErrors,
    }
    await this.finish({ ...rec, scrub }, 'done', true, scrubReason(scrub), true)
  }

  /** The verdict on a command received while the journal recovered (see `recovery.ts`). */
  private async judge(
    rec: JournalRecord<ResourceCommand>,
  ): Promise<Awaited<ReturnType<typeof judgeRecovered>>> {
    const verdict = await judgeRecovered(
      {
        content: this.content,
        journal: this.journal,
        inUse: (cid) => this.versions.inUse(cid, rec.cmd.resource),
      },
      rec.cmd,
    )
    if (verdict.kind === 'in-place')
      log(
        '%s (%s %s) is in place already: recorded, not applied again',
        rec.cmd.id,
        rec.cmd.op,
        rec.cmd.resource,
      )
    if (verdict.kind === 'refuse') log.error('%s not applied: %s', rec.cmd.id, verdict.reason)
    return verdict
  }
}

/**
 * Whether `next` makes the placement `placing` of the same resource moot: a deactivate, a
 * switch to another version, or the eviction of the version being placed.
 */
function supersedes(next: Command, placing: Command): boolean {
  if (!isResourceCommand(next) || next.resource !== placing.resource || next.id === placing.id) return false
  if (next.op === 'deactivate') return true
  if (next.op === 'evict') return next.manifestCid === placing.manifestCid
  return next.manifestCid !== placing.manifestCid
}

/** A scrub's findings in words, for the outcome's reason (well within `MAX_REASON_CHARS`). */
export function scrubReason(f: ScrubFindings): string {
  return `scrub pass: ${f.chunksChecked} chunks checked, ${f.corruptFound} corrupt (dropped, fetched again), ${f.readErrors} unreadable`
}
