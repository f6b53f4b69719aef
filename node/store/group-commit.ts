/**
 * Group commit for the `level` index: writes that arrive while a batch is being written
 * wait and then go together in the next one. Each chunk write touches the index twice
 * (intent, then entry); under load that was two native calls, two wake-ups of a libuv
 * thread and two LevelDB log appends per chunk (in a profile of the origin's ingest, each
 * `put` held the event loop ~80 µs, waiting for the thread it woke). Alone, a write goes
 * at once: grouping adds no delay.
 */

/** One index write. */
export type IndexOp = { type: 'put'; key: string; value: string } | { type: 'del'; key: string }

/** What group commit needs of the index (a `Level<string, string>`). */
export interface BatchWriter {
  batch(ops: IndexOp[]): Promise<void>
}

interface Waiter {
  ops: IndexOp[]
  resolve(): void
  reject(err: unknown): void
}

/** Writes index operations in groups, one batch at a time, in arrival order. */
export class GroupCommit {
  private readonly db: BatchWriter
  private queue: Waiter[] = []
  private running = false

  constructor(db: BatchWriter) {
    this.db = db
  }

  /**
   * Resolves once `ops` are in the index (with every write queued before them). A failed
   * batch fails every write in its group: LevelDB refuses a batch as a whole.
   */
  write(ops: IndexOp[]): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    this.queue.push({ ops, resolve, reject })
    if (!this.running) void this.run()
    return promise
  }

  private async run(): Promise<void> {
    this.running = true
    while (this.queue.length > 0) {
      const group = this.queue
      this.queue = []
      try {
        await this.db.batch(group.length === 1 ? group[0].ops : group.flatMap((w) => w.ops))
        for (const w of group) w.resolve()
      } catch (err) {
        for (const w of group) w.reject(err)
      }
    }
    this.running = false
  }
}
