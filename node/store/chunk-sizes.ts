/**
 * The chunks a store holds: each one's size, in least-recently-used order (a `Map` keeps
 * insertion order, so a chunk used again moves to the end), and their total, which the
 * store's quota is checked against.
 */

/** Chunk key → size in least-recently-used order, and the bytes of all of them. */
export class ChunkSizes {
  private readonly sizes = new Map<string, number>()
  private total = 0

  /** Bytes of every chunk held. */
  get bytes(): number {
    return this.total
  }

  /** How many chunks are held. */
  get count(): number {
    return this.sizes.size
  }

  /** Whether chunk `key` is held. */
  has(key: string): boolean {
    return this.sizes.has(key)
  }

  /** The size of chunk `key`, if it is held. */
  get(key: string): number | undefined {
    return this.sizes.get(key)
  }

  /** Every chunk and its size, least recently used first: a copy, so the table may change meanwhile. */
  entries(): Array<[string, number]> {
    return [...this.sizes]
  }

  /** Every chunk's key, least recently used first (a copy). */
  keys(): string[] {
    return [...this.sizes.keys()]
  }

  /** Records chunk `key` as held, `size` bytes long, and as the one used last. */
  remember(key: string, size: number): void {
    const old = this.sizes.get(key)
    if (old !== undefined) this.total -= old
    this.sizes.delete(key)
    this.sizes.set(key, size)
    this.total += size
  }

  /** Marks chunk `key`, if held, as the one used last. */
  touch(key: string): void {
    const size = this.sizes.get(key)
    if (size === undefined) return
    this.sizes.delete(key)
    this.sizes.set(key, size)
  }

  /** Forgets chunk `key`, if held. */
  forget(key: string): void {
    const size = this.sizes.get(key)
    if (size === undefined) return
    this.sizes.delete(key)
    this.total -= size
  }

  /** Forgets every chunk. */
  clear(): void {
    this.sizes.clear()
    this.total = 0
  }
}
