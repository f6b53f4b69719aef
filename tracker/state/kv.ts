/**
 * The key-value layer under the tracker's repositories: a level database on disk, or an
 * in-memory map for tests and the embedded mode. Repositories keep their entities in
 * memory and persist every change through a {@link Tx}: the batch is written (with
 * `sync` when asked) before the caller acknowledges anything.
 */
import { Level } from 'level'
import { StateUnavailableError } from '../errors.ts'

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
 * Collects the writes of one logical change. Memory is updated by the repositories as
 * they go; `commit` makes the change durable. Concurrent commits are grouped into one
 * level batch (group commit) so 5,000 ACKs do not cost 5,000 fsyncs.
 *
 * There is no rollback: if the commit fails, memory keeps the change and the
 * {@link GroupWriter} fails stop (see there).
 */
export class Tx {
  readonly ops: KvOp[] = []
  private readonly writer: GroupWriter
  private readonly committed: Array<() => void> = []
  constructor(writer: GroupWriter) {
    this.writer = writer
  }
  put(key: string, value: unknown): void {
    this.ops.push({ type: 'put', key, value })
  }
  del(key: string): void {
    this.ops.push({ type: 'del', key })
  }
  /** Runs `fn` once the commit succeeded (e.g. to let a queued command be sent); never if it fails. */
  onCommit(fn: () => void): void {
    this.committed.push(fn)
  }
  /**
   * Persists the ops; with `sync` they are on disk when this resolves. Rejects with
   * {@link StateUnavailableError} if they could not be written.
   */
  async commit(options: { sync?: boolean } = {}): Promise<void> {
    await this.writer.write(this.ops, options.sync === true)
    for (const fn of this.committed.splice(0)) fn()
  }
}

/**
 * Groups writes issued in the same tick into one batch, synced if any of them asks.
 *
 * Fail-stop: once a batch fails, every write pending or issued later is refused with
 * {@link StateUnavailableError} and nothing more reaches the disk, so the disk keeps a
 * consistent prefix of the changes. Memory is not rolled back (repositories change shared
 * objects in place, and later changes build on earlier ones, e.g. sequence numbers): the
 * tracker stops serving instead and a restart reloads the disk (see {@link failure}).
 */
export class GroupWriter {
  private readonly kv: Kv
  private pending: { ops: KvOp[]; sync: boolean; waiters: Array<PromiseWithResolvers<void>> } | undefined
  private chain: Promise<void> = Promise.resolve()
  private failed?: StateUnavailableError
  constructor(kv: Kv) {
    this.kv = kv
  }
  /** Set once a batch failed: memory may then differ from the disk until a restart. */
  get failure(): StateUnavailableError | undefined {
    return this.failed
  }
  write(ops: KvOp[], sync: boolean): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed)
    if (ops.length === 0) return Promise.resolve()
    const waiter = Promise.withResolvers<void>()
    if (this.pending === undefined) {
      const group = { ops: [] as KvOp[], sync: false, waiters: [] as Array<PromiseWithResolvers<void>> }
      this.pending = group
      // writes are serialised: a batch starts after the previous one is on disk
      this.chain = this.chain.then(async () => {
        if (this.pending === group) this.pending = undefined
        try {
          // a batch queued behind a failed one may build on its changes: never written
          if (this.failed !== undefined) throw this.failed
          await this.kv.batch(group.ops, { sync: group.sync })
          for (const w of group.waiters) w.resolve()
        } catch (err) {
          this.failed ??= new StateUnavailableError({ cause: err })
          for (const w of group.waiters) w.reject(this.failed)
        }
      })
    }
    this.pending.ops.push(...ops)
    this.pending.sync ||= sync
    this.pending.waiters.push(waiter)
    return waiter.promise
  }
  /** Resolves when every write issued so far is done. */
  async flush(): Promise<void> {
    await this.chain
  }
}
