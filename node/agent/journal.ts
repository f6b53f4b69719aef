/**
 * The agent's durable record: every command received (by id), its status, the highest
 * sequence received, and an append-only log of applied command ids. Written with `sync`
 * before the command is ACKed, so a restarted node never applies a command twice.
 */
import { Level } from 'level'
import type { Command, OutcomeStatus } from './protocol.ts'

/** Status of a command on this node. */
export type JournalStatus = 'received' | OutcomeStatus

/** One journal record. */
export interface JournalRecord {
  cmd: Command
  status: JournalStatus
  reason?: string
  peerBytes?: number
  originBytes?: number
}

/** An applied command, as logged. */
export interface AppliedRecord {
  id: string
  seq: number
  op: Command['op']
  resource: string
  manifestCid: string
  at: number
}

/** Storage of the journal: level on disk, or memory. */
export interface JournalStore {
  open(): Promise<void>
  close(): Promise<void>
  get(key: string): Promise<unknown>
  batch(
    ops: Array<{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }>,
  ): Promise<void>
  values(prefix: string): AsyncIterable<unknown>
}

/** Journal on a level database (writes are synced). */
export class LevelJournalStore implements JournalStore {
  private readonly db: Level<string, unknown>
  constructor(dir: string) {
    this.db = new Level<string, unknown>(dir, { valueEncoding: 'json' })
  }
  open(): Promise<void> {
    return this.db.open()
  }
  close(): Promise<void> {
    return this.db.close()
  }
  get(key: string): Promise<unknown> {
    return this.db.get(key)
  }
  async batch(
    ops: Array<{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }>,
  ): Promise<void> {
    await this.db.batch(ops as never, { sync: true } as never)
  }
  async *values(prefix: string): AsyncIterable<unknown> {
    for await (const v of this.db.values({ gte: prefix, lt: `${prefix}\xff` })) yield v
  }
}

/** In-memory journal (tests, or a node that accepts losing dedup on restart). */
export class MemoryJournalStore implements JournalStore {
  private readonly map = new Map<string, string>()
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async get(key: string): Promise<unknown> {
    const v = this.map.get(key)
    return v === undefined ? undefined : JSON.parse(v)
  }
  async batch(
    ops: Array<{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }>,
  ): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key, JSON.stringify(op.value))
      else this.map.delete(op.key)
    }
  }
  async *values(prefix: string): AsyncIterable<unknown> {
    for (const k of [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort())
      yield JSON.parse(this.map.get(k)!)
  }
}

const pad = (n: number): string => String(n).padStart(12, '0')
/**
 * A command's place in the queue: by sequence, then id. Keyed by the sequence alone, a second
 * command under the same number took the first one's place, and applying either removed the
 * other's: a command received, ACKed and not yet applied was never applied after a restart.
 */
const queueKey = (cmd: Command): string => `queue!${pad(cmd.seq)}!${cmd.id}`

/** See the module comment. */
export class Journal {
  private readonly store: JournalStore
  lastSeq = 0
  enrolled = false
  /** The tracker PeerId this node met first and now requires (see `tracker-auth.ts`). */
  trackerId?: string

  constructor(store: JournalStore) {
    this.store = store
  }

  async open(): Promise<void> {
    await this.store.open()
    this.lastSeq = ((await this.store.get('meta!lastSeq')) as number | undefined) ?? 0
    this.enrolled = ((await this.store.get('meta!enrolled')) as boolean | undefined) ?? false
    this.trackerId = (await this.store.get('meta!trackerId')) as string | undefined
  }

  close(): Promise<void> {
    return this.store.close()
  }

  async get(id: string): Promise<JournalRecord | undefined> {
    return (await this.store.get(`cmd!${id}`)) as JournalRecord | undefined
  }

  /** Records receipt (before the ACK). */
  async receive(cmd: Command): Promise<void> {
    const lastSeq = Math.max(this.lastSeq, cmd.seq)
    await this.store.batch([
      { type: 'put', key: `cmd!${cmd.id}`, value: { cmd, status: 'received' } satisfies JournalRecord },
      { type: 'put', key: queueKey(cmd), value: cmd.id },
      { type: 'put', key: 'meta!lastSeq', value: lastSeq },
    ])
    // only once on disk: the hello's lastSeq tells the tracker which commands this node
    // holds (an aborted release's command is sent back to a node that says it had it)
    this.lastSeq = lastSeq
  }

  /**
   * Records a status change. The first move out of `received` is the application of the
   * command: it leaves the queue and enters the applied log in the same atomic write.
   */
  async update(rec: JournalRecord, applied: boolean): Promise<void> {
    const ops: Array<{ type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }> = [
      { type: 'put', key: `cmd!${rec.cmd.id}`, value: rec },
    ]
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
      ops.push({ type: 'put', key: `applied!${pad(rec.cmd.seq)}!${rec.cmd.id}`, value: log })
    }
    await this.store.batch(ops)
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

  /** Commands received but not yet applied, in sequence order. */
  async queued(): Promise<JournalRecord[]> {
    const out: JournalRecord[] = []
    for await (const id of this.store.values('queue!')) {
      const rec = await this.get(id as string)
      if (rec !== undefined) out.push(rec)
    }
    return out
  }

  /** Every command placed but still waiting for its activation time. */
  async waitingActivation(): Promise<JournalRecord[]> {
    const out: JournalRecord[] = []
    for await (const v of this.store.values('cmd!')) {
      const rec = v as JournalRecord
      if (rec.status === 'placed') out.push(rec)
    }
    return out
  }

  /** The applied log, in sequence order. */
  async applied(): Promise<AppliedRecord[]> {
    const out: AppliedRecord[] = []
    for await (const v of this.store.values('applied!')) out.push(v as AppliedRecord)
    return out
  }
}
