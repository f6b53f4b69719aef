/**
 * Pruning of the journal. The rule: keep every record that is not final (`received`: it
 * is to be applied; `placed`: its activation is scheduled from it) and every final record
 * (`active`, `done`, `failed`) among the last `keepFinal` sequence numbers (above
 * `lastSeq - keepFinal`); delete older final records with their applied-log entries, and
 * raise `meta!prunedSeq` to the highest sequence deleted, in the same batch. Sequence
 * numbers are unique per node, so at most `keepFinal` final records are kept.
 *
 * Why this is enough: the tracker sends a node again only commands still in its outbox,
 * which are those it has no final outcome for, and it replays them all, oldest first, at
 * every connection; the node answers each from its record, and the answer takes it out of
 * the outbox. A command the tracker can still ask about is therefore among the node's last
 * few, or one withdrawn while the node was away (its next hello brings it back): no command
 * reaches a node while it is away, so nothing is pruned meanwhile (pruning follows writes,
 * never the clock). The floor trails `lastSeq` by `keepFinal` numbers, so a command the
 * node never received (a gap) cannot be mistaken for a pruned one unless the tracker
 * delivered it that many numbers late. A tracker restored from an old backup may send older
 * ones: unknown and at or below `prunedSeq`, the agent answers them as forgotten and
 * applies nothing.
 *
 * Work per pass is bounded (`JOURNAL_PRUNE_SCAN` entries read, `JOURNAL_PRUNE_BATCH`
 * deleted); passes run one at a time, after writes that logged a command, until the
 * journal is back within the rule. Deletions are not synced: one lost in a crash is made
 * again.
 */
import { logger } from '@libp2p/logger'
import { InvalidConfigError } from '../errors.ts'
import { JOURNAL_PRUNE_BATCH, JOURNAL_PRUNE_SCAN } from './constants.ts'
import type { AppliedRecord, JournalRecord } from './journal.ts'
import type { JournalOp, JournalStore } from './journal-store.ts'

const log = logger('dandelion:node:agent:journal')

const FINAL = new Set(['active', 'done', 'failed'])

/** See the module comment. */
export class Retention {
  private readonly store: JournalStore
  private readonly keepFinal: number
  /** Applied-log entries (each command that left the queue has one). */
  private logged = 0
  prunedSeq = 0
  /** Where the next pass starts reading the log (after records kept as `placed`). */
  private cursor?: string
  private running?: Promise<void>
  private stopped = false

  /** The journal's highest sequence received. */
  private readonly lastSeq: () => number

  constructor(store: JournalStore, keepFinal: number, lastSeq: () => number) {
    if (!Number.isSafeInteger(keepFinal) || keepFinal < 1)
      throw new InvalidConfigError(`journalKeepFinal must be a whole number ≥ 1, not ${keepFinal}`)
    this.store = store
    this.keepFinal = keepFinal
    this.lastSeq = lastSeq
  }

  /** Reads the floor and counts the log; returns the highest sequence recorded. */
  async load(): Promise<{ maxSeq: number }> {
    this.stopped = false
    this.cursor = undefined
    this.prunedSeq = ((await this.store.get('meta!prunedSeq')) as number | undefined) ?? 0
    let maxSeq = 0
    this.logged = 0
    for await (const [, v] of this.store.entries('applied!')) {
      this.logged++
      maxSeq = Math.max(maxSeq, (v as AppliedRecord).seq)
    }
    for await (const [key] of this.store.entries('queue!'))
      maxSeq = Math.max(maxSeq, Number(key.split('!')[1]))
    return { maxSeq }
  }

  /** A command entered the log: prune if the journal is past the rule. */
  applied(): void {
    this.logged++
    this.schedule()
  }

  /** Starts pruning in the background unless it runs or nothing is to be pruned. */
  schedule(): void {
    if (this.running !== undefined || this.stopped || this.logged <= this.keepFinal) return
    this.running = this.run()
      .catch((err) => log.error('pruning the journal failed (tried again at the next command): %e', err))
      .finally(() => {
        this.running = undefined
      })
  }

  /** Waits for the pass under way; starts no more. */
  async stop(): Promise<void> {
    this.stopped = true
    await this.running
  }

  private async run(): Promise<void> {
    while (!this.stopped && this.logged > this.keepFinal) {
      const { deleted, end } = await this.pass()
      if (end) this.cursor = undefined
      // nothing but records kept (`placed`, or within the window) up to the window: done
      // until the next command
      if (deleted === 0 && end) return
      // other work (a command's receipt) goes between passes
      await new Promise((r) => setImmediate(r))
    }
  }

  /**
   * One pass: deletes up to `JOURNAL_PRUNE_BATCH` of the oldest final records below the
   * window; `end` when it reached the window or the end of the log.
   */
  private async pass(): Promise<{ deleted: number; end: boolean }> {
    const below = this.lastSeq() - this.keepFinal
    const ops: JournalOp[] = []
    let floor = this.prunedSeq
    let deleted = 0
    let read = 0
    let end = true
    for await (const [key, v] of this.store.entries('applied!', {
      gt: this.cursor,
      limit: JOURNAL_PRUNE_SCAN,
    })) {
      const entry = v as AppliedRecord
      if (entry.seq > below) break
      read++
      this.cursor = key
      const rec = (await this.store.get(`cmd!${entry.id}`)) as JournalRecord | undefined
      if (rec !== undefined && !FINAL.has(rec.status)) continue
      ops.push({ type: 'del', key }, { type: 'del', key: `cmd!${entry.id}` })
      floor = Math.max(floor, entry.seq)
      if (++deleted >= JOURNAL_PRUNE_BATCH) {
        end = false
        break
      }
    }
    if (read === JOURNAL_PRUNE_SCAN) end = false
    if (deleted > 0) {
      ops.push({ type: 'put', key: 'meta!prunedSeq', value: floor })
      // raised before the records go: a lookup that misses them must already see the floor
      this.prunedSeq = floor
      await this.store.batch(ops, { sync: false })
      this.logged -= deleted
      log('pruned %d journal records up to sequence %d', deleted, floor)
    }
    return { deleted, end }
  }
}
