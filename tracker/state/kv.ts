/**
 * The key-value layer under the tracker's repositories: a level database on disk, or an
 * in-memory map for tests and the embedded mode. Repositories keep their entities in
 * memory and persist every change through a {@link Tx}: the batch is written (with
 * `sync` when asked) before the caller acknowledges anything. The change and the group
 * commit of changes into one batch are in `group-commit.ts`.
 */
import { Level } from 'level'

export { GroupWriter, type GroupWriterComponents, Tx } from './group-commit.ts'

/**
 * One write of a batch. A put carries its value as JSON text, serialised once when the
 * change is made: the store writes that text as it is, and readers parse it when the batch
 * is on disk (see {@link Tx.put}).
 */
export type KvOp =
  | {
      type: 'put'
      key: string
      value: string
      /**
       * Set by {@link Tx.putShared}: the writers' object itself, which they never change
       * after this write. Readers take it as it is instead of parsing {@link value}.
       */
      shared?: object
    }
  | { type: 'del'; key: string }

/** Storage backend of the tracker state. */
export interface Kv {
  open(): Promise<void>
  close(): Promise<void>
  /** Every entry whose key starts with `prefix`, in key order. */
  entries(prefix: string): AsyncIterable<[string, unknown]>
  /** Applies the ops atomically; with `sync` the write is on disk when this resolves. */
  batch(ops: KvOp[], options?: { sync?: boolean }): Promise<void>
  /**
   * Every entry, in key order, its value as the JSON text stored, read from one snapshot:
   * batches written meanwhile are wholly in it or wholly out of it (a backup).
   */
  snapshot(): AsyncIterable<[string, string]>
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
  async *snapshot(): AsyncIterable<[string, string]> {
    // one iterator reads one implicit snapshot of the database, taken as it is created
    for await (const [k, v] of this.db.iterator({ valueEncoding: 'utf8' } as never))
      yield [k as string, v as unknown as string]
  }
  async batch(ops: KvOp[], options: { sync?: boolean } = {}): Promise<void> {
    if (ops.length === 0) return
    // Values are JSON text already: written as utf8 they are the very bytes the `json`
    // encoding writes (and `entries` reads back), without serialising them a second time.
    // classic-level honours `sync` on batch: fsync before the callback.
    await this.db.batch(ops as never, { sync: options.sync === true, valueEncoding: 'utf8' } as never)
  }
}

/**
 * Whether `err`, from opening a {@link LevelKv}, says another process (or another open
 * database of this one) holds the directory's lock: level reports `LEVEL_DATABASE_NOT_OPEN`
 * caused by `LEVEL_LOCKED`.
 */
export function isLockedError(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined
  return (
    e?.code === 'LEVEL_LOCKED' || (e?.code === 'LEVEL_DATABASE_NOT_OPEN' && e.cause?.code === 'LEVEL_LOCKED')
  )
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
  async *snapshot(): AsyncIterable<[string, string]> {
    const copy = [...this.map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    for (const e of copy) yield e
  }
  async batch(ops: KvOp[]): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key, op.value)
      else this.map.delete(op.key)
    }
  }
}
