/**
 * Writes and deletes under way in a chunk store: one write per chunk at a time (a second
 * write of it waits for the first, and makes its own attempt if that one fails), none
 * while the chunk's delete is still going, and every write, delete and pin record counted
 * as in flight, so that `stop` waits for them before closing what they write to.
 */
import type { AbortOptions } from './index.ts'

/** What {@link ChunkWrites} reads of its store's chunks. */
export interface ChunkWritesComponents {
  /** Whether the store holds the chunk `key`. */
  stored: (key: string) => boolean
  /** Marks the chunk `key` as just used (least-recently-used order). */
  touch: (key: string) => void
}

/** The writes and deletes under way in one store (see the module comment). */
export class ChunkWrites {
  private readonly c: ChunkWritesComponents
  /** Writes in progress, by chunk (bounded by the callers' windows). */
  private readonly writing = new Map<string, Promise<void>>()
  /** Deletes whose bytes and index entry are still going, by chunk (one at a time: the store's `exclusively`). */
  private readonly removing = new Map<string, Promise<void>>()
  /** Writes (and pin records) under way: `stop` waits for them before closing what they write to. */
  private readonly inFlight = new Set<Promise<unknown>>()

  constructor(components: ChunkWritesComponents) {
    this.c = components
  }

  /**
   * Runs `write` as the one write of chunk `key`, unless the chunk is stored already (it
   * is touched) or another write of it stores it meanwhile. Returns whether `write` ran.
   * @param options.signal when another write of the chunk fails, this one is still tried
   * unless its caller gave up
   */
  async once(key: string, write: () => Promise<void>, options: AbortOptions = {}): Promise<boolean> {
    if (this.c.stored(key)) {
      this.c.touch(key)
      return false
    }
    const running = this.writing.get(key)
    if (running !== undefined) {
      try {
        await running
        return false
      } catch {
        // that write failed for its own caller (aborted, refused room): this one is still
        // wanted, by another download sharing the chunk, and makes its own attempt
        options.signal?.throwIfAborted()
        return await this.once(key, write, options)
      }
    }
    // a delete of the chunk still under way would remove the entry this write makes (its
    // index delete landing after it, and the location forgotten): store it once it is gone
    const removal = this.removing.get(key)
    if (removal !== undefined) {
      await removal.catch(() => {})
      return await this.once(key, write, options)
    }
    const written = write()
    this.writing.set(key, written)
    try {
      await written
    } finally {
      this.writing.delete(key)
    }
    return true
  }

  /**
   * Waits for `deletion` of chunk `key`, counted in flight; a write of the chunk meanwhile
   * waits for it (see {@link once}). `undo` runs if it fails, before that write goes on.
   */
  async removal(key: string, deletion: Promise<void>, undo: () => void): Promise<void> {
    const removal = this.tracked(deletion)
    this.removing.set(key, removal)
    try {
      await removal
    } catch (err) {
      undo()
      throw err
    } finally {
      this.removing.delete(key)
    }
  }

  /** Counts `work` as under way until it settles: {@link settle} waits for it. */
  tracked<T>(work: Promise<T>): Promise<T> {
    this.inFlight.add(work)
    const done = (): void => {
      this.inFlight.delete(work)
    }
    work.then(done, done)
    return work
  }

  /** Waits for every write under way, including those that begin meanwhile. */
  async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
  }
}
