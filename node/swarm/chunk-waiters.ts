/**
 * Readers (playback) blocked on chunks of one swarm: where each one is, so the scheduler
 * asks for those chunks first, and waking them once their chunk is stored.
 */

interface Waiter {
  resolve(): void
  reject(err: unknown): void
}

/** The readers waiting on one swarm's chunks. */
export class ChunkWaiters {
  /** Reader id → the chunk it waits for. */
  private readonly positions = new Map<number, number>()
  /** Chunk index → the readers waiting for it. */
  private readonly waiting = new Map<number, Set<Waiter>>()
  private nextId = 0

  /** How many readers are waiting. */
  get size(): number {
    return this.positions.size
  }

  /** The chunks readers wait for, each once. */
  blockedOn(): Set<number> {
    return new Set(this.positions.values())
  }

  /**
   * Waits until {@link stored} is called for `index` (or `isStored()` already says so).
   * Rejects with the reason of whichever signal aborts first, or the error given to
   * {@link failAll}.
   */
  async wait(
    index: number,
    isStored: () => boolean,
    signals: readonly (AbortSignal | undefined)[],
  ): Promise<void> {
    for (const s of signals) s?.throwIfAborted()
    const id = this.nextId++
    const { promise, resolve, reject } = Promise.withResolvers<void>()
    const waiter: Waiter = { resolve, reject }
    const set = this.waiting.get(index) ?? new Set<Waiter>()
    set.add(waiter)
    this.waiting.set(index, set)
    this.positions.set(id, index)
    const onAbort = (evt: Event): void => reject((evt.target as AbortSignal).reason)
    for (const s of signals) s?.addEventListener('abort', onAbort, { once: true })
    try {
      if (isStored()) resolve()
      await promise
    } finally {
      this.positions.delete(id)
      set.delete(waiter)
      if (set.size === 0 && this.waiting.get(index) === set) this.waiting.delete(index)
      for (const s of signals) s?.removeEventListener('abort', onAbort)
    }
  }

  /** Chunk `index` is stored: its readers go on. */
  stored(index: number): void {
    const set = this.waiting.get(index)
    if (set === undefined) return
    this.waiting.delete(index)
    for (const w of set) w.resolve()
  }

  /** Downloading failed: every waiting reader gets `err`. */
  failAll(err: Error): void {
    for (const set of this.waiting.values()) for (const w of set) w.reject(err)
  }
}
