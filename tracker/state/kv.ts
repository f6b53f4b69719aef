/**
 * The key-value layer under the tracker's repositories: a level database on disk, or an
 * in-memory map for tests and the embedded mode. Repositories keep their entities in
 * memory and persist every change through a {@link Tx}: the batch is written (with
 * `sync` when asked) before the caller acknowledges anything.
 */
import { logger } from '@libp2p/logger'
import { Level } from 'level'
import { StateUnavailableError } from '../errors.ts'

const log = logger('dandelion:tracker:state')

/** One write of a batch. */
export type KvOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }

/** Storage backend of the tracker state. */
export interface Kv {
  open(): Promise<void>
  close(): Promise<void>
  /** Every entry whose key starts with `prefix`, in key order. */
  entries(prefix: string): AsyncIterable<[string, unknown]>
  /** Applies the ops atomically; with `sync` the write is on disk when this resolves. */
  batch(ops: KvOp[], options?: { sync?: boolean }): Promise<void>
}

/** {@link Kv} on a level database in `dir`. */
export class LevelKv implements Kv {
  private readonly db: Level<string, unknown>
  constructor(dir: string) {
    this.db = new Level<string, unknown>(dir, { valueEncoding: 'json' })
  }
  async open(): Promise<void> {
    await this.db.open()
  }
  async close(): Promise<void> {
    await this.db.close()
  }
  async *entries(prefix: string): AsyncIterable<[string, unknown]> {
    for await (const [k, v] of this.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) yield [k, v]
  }
  async batch(ops: KvOp[], options: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return
    // classic-level honours `sync` on batch: fsync before the callback
    await this.db.batch(ops as never, { sync: options.sync === true } as never)
  }
}

/** In-memory {@link Kv}. */
export class MemoryKv implements Kv {
  private readonly map = new Map<string, string>()
  async open(): Promise<void> {}
  async close(): Promise<void> {}
  async *entries(prefix: string): AsyncIterable<[string, unknown]> {
    const keys = [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort()
    for (const k of keys) yield [k, JSON.parse(this.map.get(k)!)]
  }
  async batch(ops: KvOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key, JSON.stringify(op.value))
      else this.map.delete(op.key)
    }
  }
}

/**
 * A deep copy of `value` as the store gives it back (JSON: `undefined` fields dropped).
 * Repositories change their objects in place after a change, so each write keeps the
 * value as it was when the change was made, for the disk and for the committed view.
 */
function snapshot(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value))
}

/**
 * Collects the writes of one logical change. The repositories it is used with change the
 * writers' memory as they go; `commit` makes the change durable, and only then is it
 * applied to what readers see (see `TrackerState.committed`). Concurrent commits are
 * grouped into one level batch (group commit) so 5,000 ACKs do not cost 5,000 fsyncs.
 *
 * There is no rollback of the writers' memory: if the commit fails, the tracker reloads
 * it from the disk (see {@link GroupWriter}).
 */
export class Tx {
  readonly ops: KvOp[] = []
  private readonly writer: GroupWriter
  /** The writer's epoch when the change was made: a change built on memory a failed write left behind is never written. */
  private readonly epoch: number
  private readonly committed: Array<() => void> = []
  constructor(writer: GroupWriter) {
    this.writer = writer
    this.epoch = writer.epoch
  }
  put(key: string, value: unknown): void {
    this.ops.push({ type: 'put', key, value: snapshot(value) })
  }
  del(key: string): void {
    this.ops.push({ type: 'del', key })
  }
  /** Runs `fn` once the commit succeeded (e.g. to send a queued command, to announce the change); never if it fails. */
  onCommit(fn: () => void): void {
    this.committed.push(fn)
  }
  /**
   * Persists the ops; with `sync` they are on disk when this resolves. Rejects with
   * {@link StateUnavailableError} if they could not be written.
   */
  async commit(options: { sync?: boolean } = {}): Promise<void> {
    await this.writer.write(this.ops, options.sync === true, this.epoch)
    for (const fn of this.committed.splice(0)) fn()
  }
}

/** What a {@link GroupWriter} reports to. */
export interface GroupWriterComponents {
  kv: Kv
  /** A batch is on disk: apply it to what readers see. Called before its writers resume. */
  onCommitted(ops: KvOp[]): void
  /** A batch failed: the writers' memory holds changes the disk does not. */
  onFailed(err: StateUnavailableError): void
}

interface Group {
  ops: KvOp[]
  sync: boolean
  epoch: number
  waiters: Array<PromiseWithResolvers<void>>
}

/**
 * Groups writes issued in the same tick into one batch, synced if any of them asks.
 *
 * A failed batch ends an epoch: its writes and every write made in that epoch and not yet
 * on disk (queued behind it, or committed later by a change made before the failure) are
 * refused with {@link StateUnavailableError}, since they may build on the failed change
 * (sequence numbers, a release being created). So the disk always holds a prefix of the
 * changes, and {@link GroupWriterComponents.onFailed} lets the owner reload the writers'
 * memory from it; writes of the next epoch go to the disk again.
 */
export class GroupWriter {
  private readonly components: GroupWriterComponents
  private pending: Group | undefined
  private chain: Promise<void> = Promise.resolve()
  private current = 0
  /** What ended the last epoch. */
  private ended?: StateUnavailableError
  private failed?: StateUnavailableError
  constructor(components: GroupWriterComponents) {
    this.components = components
  }
  /** Changes made now belong to this epoch. */
  get epoch(): number {
    return this.current
  }
  /** Set while the last batch written failed and none succeeded since. */
  get failure(): StateUnavailableError | undefined {
    return this.failed
  }
  write(ops: KvOp[], sync: boolean, epoch: number): Promise<void> {
    if (epoch !== this.current) return Promise.reject(this.ended ?? new StateUnavailableError())
    if (ops.length === 0) return Promise.resolve()
    const waiter = Promise.withResolvers<void>()
    if (this.pending === undefined || this.pending.epoch !== epoch) {
      const group: Group = { ops: [], sync: false, epoch, waiters: [] }
      this.pending = group
      // writes are serialised: a batch starts after the previous one is on disk
      this.chain = this.chain.then(() => this.run(group))
    }
    this.pending.ops.push(...ops)
    this.pending.sync ||= sync
    this.pending.waiters.push(waiter)
    return waiter.promise
  }
  private async run(group: Group): Promise<void> {
    if (this.pending === group) this.pending = undefined
    // queued behind a failed batch: it may build on its changes, and is never written
    if (group.epoch !== this.current) {
      for (const w of group.waiters) w.reject(this.ended)
      return
    }
    try {
      await this.components.kv.batch(group.ops, { sync: group.sync })
    } catch (err) {
      const failure = new StateUnavailableError({ cause: err })
      this.current++
      this.ended = failure
      this.failed = failure
      this.report(() => this.components.onFailed(failure))
      for (const w of group.waiters) w.reject(failure)
      return
    }
    this.failed = undefined
    this.report(() => this.components.onCommitted(group.ops))
    for (const w of group.waiters) w.resolve()
  }
  /** The chain of batches must go on whatever a callback does. */
  private report(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      log.error('state writer callback threw: %e', err)
    }
  }
  /** Resolves when every write issued so far is done. */
  async flush(): Promise<void> {
    await this.chain
  }
}
