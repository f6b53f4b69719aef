/**
 * Where an {@link FsChunkStore}'s chunks are: each one's location in the segment files
 * (from the index at start, then from each write), and the chunks in each segment, which
 * compaction moves out of a sparse one.
 */
import type { Location } from './segments.ts'

/** Chunk key → location, and segment → its chunk keys. */
export class ChunkLocations {
  private readonly locations = new Map<string, Location>()
  private readonly inSegment = new Map<number, Set<string>>()

  /** Where each chunk is (shared with compaction, not copied). */
  get byKey(): ReadonlyMap<string, Location> {
    return this.locations
  }

  /** The chunk keys in each segment (shared with compaction, not copied). */
  get bySegment(): ReadonlyMap<number, ReadonlySet<string>> {
    return this.inSegment
  }

  /** Where chunk `key` is, if it is stored. */
  get(key: string): Location | undefined {
    return this.locations.get(key)
  }

  /** Whether chunk `key` has a location. */
  has(key: string): boolean {
    return this.locations.has(key)
  }

  /** Records that chunk `key` is at `l` (and listed in `l`'s segment). */
  place(key: string, l: Location): void {
    this.locations.set(key, l)
    const keys = this.inSegment.get(l.segment) ?? new Set<string>()
    this.inSegment.set(l.segment, keys)
    keys.add(key)
  }

  /** Takes chunk `key` off the list of `l`'s segment (its bytes there are dead space now). */
  unlist(key: string, l: Location): void {
    const keys = this.inSegment.get(l.segment)
    keys?.delete(key)
    if (keys?.size === 0) this.inSegment.delete(l.segment)
  }

  /** Forgets chunk `key`, which was at `l`. */
  delete(key: string, l: Location): void {
    this.locations.delete(key)
    this.unlist(key, l)
  }

  /** Forgets every chunk. */
  clear(): void {
    this.locations.clear()
    this.inSegment.clear()
  }
}
