/**
 * Compaction of {@link FsChunkStore}'s segments. Bytes nothing points to are dead space.
 * An empty segment is deleted at once. Each time a new segment is started, the sparsest
 * older one, if less than half live, is compacted (its chunks copied to the active
 * segment, then the file deleted): cleaning keeps pace with writing, and a segment emptied
 * by a run of deletes (a cache evicting a whole lesson) is deleted without copying
 * anything. Disk use stays within about twice the live bytes. A chunk that compaction
 * finds cut off by the end of its file (a segment cut short under the running store) is
 * dropped, as a read would drop it; a segment it cannot read at all is passed over until
 * `compact()` or the next start.
 */
import { logger } from '@libp2p/logger'
import type { Level } from 'level'
import { CHUNK_PREFIX, encodeLocation } from './index-keys.ts'
import type { Location, Segments } from './segments.ts'

/** The store's live state a {@link Compaction} reads and moves chunks in (shared, not copied). */
export interface CompactionComponents {
  /** The index, open. */
  db: Level<string, string>
  /** The segments, loaded. */
  segments: Segments
  /** Where each stored chunk is. */
  locations: ReadonlyMap<string, Location>
  /** Chunk keys by segment. */
  bySegment: ReadonlyMap<number, ReadonlySet<string>>
  /** Whether the store still runs: a compaction stops after the chunk it is moving once not. */
  running(): boolean
  /** Runs `fn` when no delete nor other move runs (the store's lock). */
  exclusively<T>(fn: () => Promise<T>): Promise<T>
  /** Forgets a chunk and deletes what is left of it (one whose bytes are gone). */
  remove(key: string): Promise<void>
  /** Records that a chunk's bytes are now at `to`, no longer at `from`. */
  moved(key: string, from: Location, to: Location): void
}

const log = logger('dandelion:store')

/** Keeps one open store's segments dense, one segment at a time, within the store's lock. */
export class Compaction {
  private readonly c: CompactionComponents
  private readonly compacting = new Set<number>()
  /**
   * Sparse segments whose last compaction failed (a file that cannot be read): the
   * compaction each new segment starts passes over them to the next sparsest, or one bad
   * segment, the sparsest, took every turn and no other was ever cleaned. {@link all}
   * and the next start try them again.
   */
  private readonly unmovable = new Set<number>()

  constructor(components: CompactionComponents) {
    this.c = components
  }

  /** Queues every segment less than half live (what a crash or a run of deletes left). */
  all(): void {
    for (const id of this.c.segments.sparse()) this.later(id)
  }

  /** A new segment was started: the sparsest older one is compacted, so cleaning keeps pace with writing. */
  segmentStarted(): void {
    const sparse = this.c.segments.sparse()
    // bounded: a segment no longer sparse (or gone) is forgotten
    for (const id of this.unmovable) if (!sparse.includes(id)) this.unmovable.delete(id)
    const id = sparse.find((s) => !this.compacting.has(s) && !this.unmovable.has(s))
    if (id !== undefined) this.later(id)
  }

  private later(id: number): void {
    if (this.compacting.has(id)) return
    this.compacting.add(id)
    this.c
      .exclusively(() => this.segment(id))
      .then(
        () => this.unmovable.delete(id),
        // the chunks not yet moved stay where they are, readable; compact() or the next start tries again
        (err: Error) => {
          this.unmovable.add(id)
          log.error('compacting segment %d failed: %s', id, err.message)
        },
      )
      .finally(() => this.compacting.delete(id))
  }

  /**
   * Copies a sparse segment's chunks to the active segment; the emptied file is deleted.
   * The old copies were on disk, so the new ones must be before the old file goes: the
   * copied bytes and then their index entries are synced first (even without `fsync`),
   * or a power cut could keep the unlink and lose the entries, leaving an index that
   * points at a deleted file and chunks, pinned ones too, that start() drops as stale.
   * One sync of each file and one synced batch for the whole segment, not one per chunk.
   */
  private async segment(id: number): Promise<void> {
    const { segments, locations } = this.c
    const moves: Array<{ key: string; from: Location; to: Location }> = []
    try {
      for (const key of [...(this.c.bySegment.get(id) ?? [])]) {
        if (!this.c.running()) break // stop() waits for the moves so far to be recorded
        const from = locations.get(key)
        if (from === undefined || from.segment !== id) continue
        let bytes: Uint8Array | undefined
        try {
          bytes = await segments.read(from)
        } catch (err) {
          if ((err as Error).name !== 'ChunkStoreCorruptError') throw err
          // the file ends before the chunk does (cut short under the running store, where
          // start() would have dropped the entry): the bytes are gone for good, and an
          // entry kept for them failed this segment's every compaction, so it never freed
          // its space. Dropped, as a read that finds it so drops it.
          log.error('chunk %s is lost: %s', key, (err as Error).message)
          await this.c.remove(key)
          continue
        }
        if (bytes === undefined) break
        const to = segments.allocate(from.length)
        moves.push({ key, from, to })
        await segments.write(to, bytes, false)
      }
      if (moves.length === 0) return
      for (const segment of new Set(moves.map((m) => m.to.segment))) await segments.sync(segment)
      // a crash before this leaves the index on the old copies and the new ones as dead space
      await this.c.db.batch(
        moves.map((m) => ({ type: 'put' as const, key: CHUNK_PREFIX + m.key, value: encodeLocation(m.to) })),
        { sync: true },
      )
    } catch (err) {
      for (const m of moves) await segments.release(m.to)
      throw err
    }
    for (const { key, from, to } of moves) this.c.moved(key, from, to)
    for (const { from } of moves) await segments.release(from)
  }
}
