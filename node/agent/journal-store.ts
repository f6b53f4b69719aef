/**
 * Storage of the agent's journal: a level database on disk (opened through
 * {@link openLevelJournal}, which repairs or replaces a damaged one), or memory.
 */
import type { Level } from 'level'
import { type JournalDamage, openLevelJournal } from './journal-open.ts'

export type { JournalDamage } from './journal-open.ts'

/** One write of a journal batch. */
export type JournalOp = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string }

/** Storage of the journal: level on disk, or memory. */
export interface JournalStore {
  open(): Promise<void>
  close(): Promise<void>
  get(key: string): Promise<unknown>
  /** Writes atomically; synced unless `sync` is false (a write whose loss is harmless). */
  batch(ops: JournalOp[], options?: { sync?: boolean }): Promise<void>
  values(prefix: string): AsyncIterable<unknown>
  /** Entries under `prefix` in key order: after `gt` if given, at most `limit`. */
  entries(prefix: string, options?: { gt?: string; limit?: number }): AsyncIterable<[string, unknown]>
  /**
   * Set by `open()` when the stored records may be incomplete: the files were damaged and
   * repaired, or replaced by a new journal. @default undefined: intact as far as it can tell
   */
  readonly damage?: JournalDamage
}

/** Journal on a level database (writes are synced unless said otherwise). */
export class LevelJournalStore implements JournalStore {
  private readonly dir: string
  private db?: Level<string, unknown>
  damage?: JournalDamage
  constructor(dir: string) {
    this.dir = dir
  }
  async open(): Promise<void> {
    const opened = await openLevelJournal(this.dir)
    this.db = opened.db
    this.damage = opened.damage
  }
  async close(): Promise<void> {
    await this.db?.close()
  }
  private get level(): Level<string, unknown> {
    if (this.db === undefined) throw new Error(`agent journal ${this.dir} is not open`)
    return this.db
  }
  get(key: string): Promise<unknown> {
    return this.level.get(key)
  }
  async batch(ops: JournalOp[], options: { sync?: boolean } = {}): Promise<void> {
    await this.level.batch(ops as never, { sync: options.sync ?? true } as never)
  }
  async *values(prefix: string): AsyncIterable<unknown> {
    for await (const v of this.level.values({ gte: prefix, lt: `${prefix}\xff` })) yield v
  }
  async *entries(
    prefix: string,
    options: { gt?: string; limit?: number } = {},
  ): AsyncIterable<[string, unknown]> {
    const range =
      options.gt === undefined
        ? { gte: prefix, lt: `${prefix}\xff` }
        : { gt: options.gt, lt: `${prefix}\xff` }
    for await (const e of this.level.iterator({ ...range, limit: options.limit ?? -1 })) yield e
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
  async batch(ops: JournalOp[], _options?: { sync?: boolean }): Promise<void> {
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key, JSON.stringify(op.value))
      else this.map.delete(op.key)
    }
  }
  async *values(prefix: string): AsyncIterable<unknown> {
    for await (const [, v] of this.entries(prefix)) yield v
  }
  async *entries(
    prefix: string,
    options: { gt?: string; limit?: number } = {},
  ): AsyncIterable<[string, unknown]> {
    const keys = [...this.map.keys()]
      .filter((k) => k.startsWith(prefix) && (options.gt === undefined || k > options.gt))
      .sort()
      .slice(0, options.limit ?? Infinity)
    for (const k of keys) {
      const v = this.map.get(k)
      if (v !== undefined) yield [k, JSON.parse(v)]
    }
  }
}
