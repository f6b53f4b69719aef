/**
 * A chunk store's pins: sets of chunks kept under a key (a manifest, a download's
 * `want:<manifest>`), never evicted while any pin holds them, and the order their records
 * reach the disk in.
 */

/** What {@link Pins} writes its records with. */
export interface PinsComponents {
  /** Writes the record of pin `key` (`undefined`: removes it). */
  save: (key: string, cids: string[] | undefined) => Promise<void>
  /** Counts a record's write as under way until it settles (the store's stop waits for it). */
  track: (write: Promise<void>) => Promise<void>
}

/** Pins by key, how many pins hold each chunk, and the records of both written in order. */
export class Pins {
  private readonly c: PinsComponents
  /** Pin key → the chunk keys it holds. */
  private readonly sets = new Map<string, Set<string>>()
  /** Chunk key → how many pins hold it (absent: none). */
  private readonly counts = new Map<string, number>()
  /**
   * The last pin record written: each waits for the one before. Writes to the index run on
   * the thread pool in no set order, so a pin and an unpin of one key made back to back
   * could land on disk the other way round, and a restart brought back a pin the user had
   * removed (content never evicted) or dropped one they had just made.
   */
  private writes: Promise<void> = Promise.resolve()

  constructor(components: PinsComponents) {
    this.c = components
  }

  /**
   * Puts pin `key` in force with `set` at once (a delete or an eviction running while it
   * is saved keeps these chunks), then writes its record; when that fails, the pin is put
   * back as it was, unless a later pin or unpin of the key came meanwhile.
   */
  async pin(key: string, set: Set<string>): Promise<void> {
    const old = this.sets.get(key)
    this.apply(key, set)
    const record = [...set]
    try {
      await this.c.track(this.inOrder(() => this.c.save(key, record)))
    } catch (err) {
      if (this.sets.get(key) === set) this.apply(key, old)
      throw err
    }
  }

  /** Removes pin `key` once its record is removed (if it is pinned, and not pinned again meanwhile). */
  async unpin(key: string): Promise<void> {
    const old = this.sets.get(key)
    if (old === undefined) return
    await this.c.track(this.inOrder(() => this.c.save(key, undefined)))
    if (this.sets.get(key) === old) this.apply(key, undefined)
  }

  /** The pin keys. */
  keys(): string[] {
    return [...this.sets.keys()]
  }

  /** Whether any pin holds chunk `key`. */
  holds(key: string): boolean {
    return (this.counts.get(key) ?? 0) > 0
  }

  /** Bytes of the pinned chunks, sized by `sizes` (chunks not stored count nothing). */
  pinnedBytes(sizes: { get(key: string): number | undefined }): number {
    let bytes = 0
    for (const key of this.counts.keys()) bytes += sizes.get(key) ?? 0
    return bytes
  }

  /** Puts pin `key` in force with `set`, replacing what it held; `undefined` removes it. */
  apply(key: string, set: Set<string> | undefined): void {
    const old = this.sets.get(key)
    if (old !== undefined) {
      for (const c of old) {
        const n = (this.counts.get(c) ?? 1) - 1
        if (n <= 0) this.counts.delete(c)
        else this.counts.set(c, n)
      }
      this.sets.delete(key)
    }
    if (set === undefined) return
    this.sets.set(key, set)
    for (const c of set) this.counts.set(c, (this.counts.get(c) ?? 0) + 1)
  }

  /** Runs `save` (a pin record's write) once the records asked for before are written (see {@link writes}). */
  private inOrder(save: () => Promise<void>): Promise<void> {
    const run = this.writes.then(save)
    this.writes = run.catch(() => {})
    return run
  }

  /** Forgets every pin (not their records). */
  clear(): void {
    this.sets.clear()
    this.counts.clear()
  }
}
