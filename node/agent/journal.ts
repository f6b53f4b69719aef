/**
 * The agent's durable record: every command received (by id), its status, the highest
 * sequence received, and an append-only log of applied command ids. Written with `sync`
 * before the command is ACKed, so a restarted node never applies a command twice.
 *
 * Retention (`journal-retention.ts`): every record not final (received, placed) is kept,
 * and the final ones among the last `keepFinal` sequence numbers; older final records and
 * their log entries are pruned, and `prunedSeq` remembers how far. A command the journal
 * does not know whose sequence is at or below it is one it forgot, never a new one: it is
 * not applied again.
 *
 * Recovery: when the files were damaged (see `journal-open.ts`), or the records contradict
 * each other (a record lost), the journal is marked recovering until the agent ends it:
 * commands it holds as not applied, and commands it does not know, are flagged so the
 * executor checks what the node serves before applying them (`recovery.ts`).
 */
import { logger } from '@libp2p/logger'
import { JOURNAL_KEEP_FINAL } from './constants.ts'
import { Retention } from './journal-retention.ts'
import type { JournalDamage, JournalOp, JournalStore } from './journal-store.ts'
import {
  type Command,
  isResourceCommand,
  type OutcomeStatus,
  type ResourceCommand,
  type ScrubFindings,
} from './protocol.ts'

export type { JournalDamage, JournalOp, JournalStore } from './journal-store.ts'
export { LevelJournalStore, MemoryJournalStore } from './journal-store.ts'

const log = logger('dandelion:node:agent:journal')

/** Status of a command on this node. */
export type JournalStatus = 'received' | OutcomeStatus

/** One journal record (`C`: what its command is known to be). */
export interface JournalRecord<C extends Command = Command> {
  cmd: C
  status: JournalStatus
  reason?: string
  peerBytes?: number
  originBytes?: number
  /** A `scrub` done: what the pass found, sent again with its outcome. */
  scrub?: ScrubFindings
  /**
   * Received, or found not applied, while the journal was recovering from damage: it may
   * have been applied before the damage, so what the node serves is checked first.
   */
  recovered?: boolean
}

/** An applied command, as logged. */
export interface AppliedRecord {
  id: string
  seq: number
  op: Command['op']
  /** Absent for a command about the node as a whole (`scrub`). */
  resource?: string
  manifestCid?: string
  at: number
}

/** Why the journal is recovering (`meta!recovery`), kept until the agent ends it. */
export interface JournalRecovery extends JournalDamage {
  /** When the damage was found (epoch ms). */
  at: number
}

/** Options of the journal. */
export interface JournalInit {
  /**
   * Sequence numbers whose final records are kept (see the module comment); keep it well
   * above the tracker's outbox bound (1,000). @default JOURNAL_KEEP_FINAL (2,000)
   */
  keepFinal?: number
}

const pad = (n: number): string => String(n).padStart(12, '0')
/**
 * A command's place in the queue: by sequence, then id. Keyed by the sequence alone, a second
 * command under the same number took the first one's place, and applying either removed the
 * other's: a command received, ACKed and not yet applied was never applied after a restart.
 */
const queueKey = (cmd: Command): string => `queue!${pad(cmd.seq)}!${cmd.id}`
/** A command's entry in the applied log. */
const appliedKey = (cmd: Pick<Command, 'seq' | 'id'>): string => `applied!${pad(cmd.seq)}!${cmd.id}`

/** See the module comment. */
export class Journal {
  private readonly store: JournalStore
  private readonly retention: Retention
  lastSeq = 0
  enrolled = false
  /** The tracker PeerId this node met first and now requires (see `tracker-auth.ts`). */
  trackerId?: string
  /** Set while recovering from damage (see the module comment). */
  recovery?: JournalRecovery
  /** The damage found by the last `open()`, if any. */
  damageFound?: JournalDamage

  constructor(store: JournalStore, init: JournalInit = {}) {
    this.store = store
    this.retention = new Retention(store, init.keepFinal ?? JOURNAL_KEEP_FINAL, () => this.lastSeq)
  }

  /** Highest sequence pruned: an unknown command at or below it was forgotten, not never received. */
  get prunedSeq(): number {
    return this.retention.prunedSeq
  }

  async open(): Promise<void> {
    await this.store.open()
    this.lastSeq = ((await this.store.get('meta!lastSeq')) as number | undefined) ?? 0
    this.enrolled = ((await this.store.get('meta!enrolled')) as boolean | undefined) ?? false
    this.trackerId = (await this.store.get('meta!trackerId')) as string | undefined
    this.recovery = (await this.store.get('meta!recovery')) as JournalRecovery | undefined
    const found = await this.retention.load()
    const damage = this.store.damage ?? (await this.inconsistency(found.maxSeq))
    this.damageFound = damage
    if (damage !== undefined) {
      // what survived still counts: new numbers must stay above what the node holds
      this.recovery = { ...damage, at: Date.now() }
      this.lastSeq = Math.max(this.lastSeq, found.maxSeq)
      await this.store.batch([
        { type: 'put', key: 'meta!recovery', value: this.recovery },
        { type: 'put', key: 'meta!lastSeq', value: this.lastSeq },
      ])
    }
    this.retention.schedule()
  }

  /** Waits for a pruning pass under way, then closes the store. */
  async close(): Promise<void> {
    await this.retention.stop()
    await this.store.close()
  }

  /** Ends the recovery: from now on commands are applied as usual. */
  async endRecovery(): Promise<void> {
    if (this.recovery === undefined) return
    await this.store.batch([{ type: 'del', key: 'meta!recovery' }])
    log('recovery of the journal ended')
    this.recovery = undefined
  }

  async get(id: string): Promise<JournalRecord | undefined> {
    return (await this.store.get(`cmd!${id}`)) as JournalRecord | undefined
  }

  /** Records receipt (before the ACK); returns the record to execute. */
  async receive(cmd: Command): Promise<JournalRecord> {
    const lastSeq = Math.max(this.lastSeq, cmd.seq)
    const rec: JournalRecord = { cmd, status: 'received' }
    if (this.recovery !== undefined) rec.recovered = true
    await this.store.batch([
      { type: 'put', key: `cmd!${cmd.id}`, value: rec },
      { type: 'put', key: queueKey(cmd), value: cmd.id },
      { type: 'put', key: 'meta!lastSeq', value: lastSeq },
    ])
    // only once on disk: the hello's lastSeq tells the tracker which commands this node
    // holds (an aborted release's command is sent back to a node that says it had it)
    this.lastSeq = lastSeq
    return rec
  }

  /**
   * Records a status change. The first move out of `received` is the application of the
   * command: it leaves the queue and enters the applied log in the same atomic write.
   */
  async update(rec: JournalRecord, applied: boolean): Promise<void> {
    const { recovered: _, ...stored } = rec
    const ops: JournalOp[] = [{ type: 'put', key: `cmd!${rec.cmd.id}`, value: stored }]
    if (applied) {
      ops.push({ type: 'del', key: queueKey(rec.cmd) })
      // a journal written before the queue was keyed by id too: its entry, if it is this command's
      const legacy = `queue!${pad(rec.cmd.seq)}`
      if ((await this.store.get(legacy)) === rec.cmd.id) ops.push({ type: 'del', key: legacy })
      const log: AppliedRecord = {
        id: rec.cmd.id,
        seq: rec.cmd.seq,
        op: rec.cmd.op,
        resource: rec.cmd.resource,
        manifestCid: rec.cmd.manifestCid,
        at: Date.now(),
      }
      ops.push({ type: 'put', key: appliedKey(rec.cmd), value: log })
    }
    await this.store.batch(ops)
    if (applied) this.retention.applied()
  }

  async markEnrolled(enrolled = true): Promise<void> {
    if (this.enrolled === enrolled) return
    this.enrolled = enrolled
    await this.store.batch([{ type: 'put', key: 'meta!enrolled', value: enrolled }])
  }

  /** Pins the tracker's PeerId: from now on only a tracker signing with its key is obeyed. */
  async pinTracker(trackerId: string): Promise<void> {
    await this.store.batch([{ type: 'put', key: 'meta!trackerId', value: trackerId }])
    this.trackerId = trackerId
  }

  /** Commands received but not yet applied, in sequence order (flagged while recovering). */
  async queued(): Promise<JournalRecord[]> {
    const out: JournalRecord[] = []
    for await (const id of this.store.values('queue!')) {
      const rec = await this.get(id as string)
      if (rec === undefined) continue
      // its application may be what the damage lost
      out.push(this.recovery === undefined ? rec : { ...rec, recovered: true })
    }
    return out
  }

  /** Every command placed but still waiting for its activation time. */
  async waitingActivation(): Promise<Array<JournalRecord<ResourceCommand>>> {
    const out: Array<JournalRecord<ResourceCommand>> = []
    for await (const v of this.store.values('cmd!')) {
      const rec = v as JournalRecord
      // only a `place` is ever placed
      if (rec.status === 'placed' && isResourceCommand(rec.cmd))
        out.push(rec as JournalRecord<ResourceCommand>)
    }
    return out
  }

  /** The applied log (what retention keeps of it), in sequence order. */
  async applied(): Promise<AppliedRecord[]> {
    const out: AppliedRecord[] = []
    for await (const v of this.store.values('applied!')) out.push(v as AppliedRecord)
    return out
  }

  /**
   * Commands of `resource` in the applied log numbered above `seq`, in order, but those
   * that failed (they changed nothing the resource serves).
   */
  async *appliedAfter(resource: string, seq: number): AsyncIterable<AppliedRecord> {
    for await (const [, v] of this.store.entries('applied!', { gt: `applied!${pad(seq)}!\xff` })) {
      const a = v as AppliedRecord
      if (a.resource === resource && (await this.get(a.id))?.status !== 'failed') yield a
    }
  }

  /**
   * Records that contradict each other, as a write lost to damaged files leaves them (a
   * queue or log entry without its command, a command above `lastSeq`); `undefined` if none.
   */
  private async inconsistency(maxSeq: number): Promise<JournalDamage | undefined> {
    if (maxSeq > this.lastSeq)
      return {
        reason: `a command numbered ${maxSeq} is recorded above lastSeq ${this.lastSeq}`,
        fresh: false,
      }
    for (const prefix of ['queue!', 'applied!']) {
      for await (const [key, v] of this.store.entries(prefix)) {
        const id = prefix === 'queue!' ? (v as string) : (v as AppliedRecord).id
        if ((await this.get(id)) === undefined)
          return { reason: `${key} names a command the journal does not hold`, fresh: false }
      }
    }
    return undefined
  }
}
