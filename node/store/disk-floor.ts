/**
 * The free-space floor of an on-disk store: the store holds at most what keeps that much
 * of its disk free, besides its quota. The disk is shared (logs, the OS, other services),
 * so the free space is read again every {@link REREAD_BYTES} reserved or
 * {@link REREAD_MS}, not once: one `statfs` per 8 MiB costs nothing next to writing them.
 *
 * The limit it gives is in the store's own (logical) bytes: what the store holds when the
 * free space was read, plus that free space, less the floor. Evicting content lowers what
 * the store holds at once, so the owner's eviction (a node's least recently used lessons)
 * makes room against the limit as it does against a quota; the disk itself gets the space
 * back as the store's segments are emptied or compacted.
 */
import { statfsSync } from 'node:fs'
import type { DiskFloorInfo } from '../errors.ts'
import type { RoomLimit } from './room.ts'

/** Bytes reserved between two reads of the free space. */
const REREAD_BYTES = 8 * 1024 * 1024
/** Longest time between two reads of the free space while the store writes. */
const REREAD_MS = 5_000

/** Free bytes on the disk holding `dir` (one `statfs`): what an unprivileged writer may use. */
export function statfsFreeBytes(dir: string): number {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

/** Options of {@link DiskFloor}. */
export interface DiskFloorInit {
  /** A directory on the store's disk. */
  dir: string
  /** Bytes to keep free. */
  minFreeBytes: number
  /** Free bytes on that disk. @default statfs of `dir` */
  freeBytes?: () => number
}

/** Keeps `minFreeBytes` free on a store's disk. */
export class DiskFloor {
  readonly minFreeBytes: number
  private readonly dir: string
  private readonly freeBytes: () => number
  private readAt = Number.NEGATIVE_INFINITY
  private sinceRead = 0
  private limitBytes = Number.POSITIVE_INFINITY
  /** Free bytes at the last read, and when; `NaN` when the disk could not be asked. */
  private freeAt = Number.NaN
  private freeReadAt = Number.NEGATIVE_INFINITY

  constructor(init: DiskFloorInit) {
    this.minFreeBytes = init.minFreeBytes
    this.dir = init.dir
    this.freeBytes = init.freeBytes ?? (() => statfsFreeBytes(init.dir))
  }

  /**
   * Called as `size` bytes are about to be reserved while the store holds `held`: reads
   * the free space again when it is due.
   */
  reserving(held: number, size: number): void {
    const now = Date.now()
    if (this.sinceRead + size > REREAD_BYTES || now - this.readAt > REREAD_MS) this.read(held, now)
    this.sinceRead += size
  }

  /**
   * Free bytes on the disk, for whoever watches it (a metrics scrape): the last reading when
   * it is at most {@link REREAD_MS} old (the store writing reads it that often), else read
   * now. The limit is left to {@link reserving}. `NaN` when the disk cannot be asked.
   */
  free(): number {
    const now = Date.now()
    if (now - this.freeReadAt > REREAD_MS) {
      try {
        this.freeAt = this.freeBytes()
      } catch {
        this.freeAt = Number.NaN
      }
      this.freeReadAt = now
    }
    return this.freeAt
  }

  private read(held: number, now: number): void {
    try {
      this.freeAt = this.freeBytes()
      this.limitBytes = held + this.freeAt - this.minFreeBytes
    } catch {
      // a disk that cannot be asked: the quota alone decides, as without a floor
      this.freeAt = Number.NaN
      this.limitBytes = Number.POSITIVE_INFINITY
    }
    this.readAt = now
    this.freeReadAt = now
    this.sinceRead = 0
  }

  /** The most bytes the store may hold, as of the last read of the free space. */
  get limit(): number {
    return this.limitBytes
  }

  /** What a refusal at the floor names: the directory and the bytes kept free. */
  info(): DiskFloorInfo {
    return { dir: this.dir, minFreeBytes: this.minFreeBytes }
  }

  /** The store's limit: `quotaBytes`, or the floor's {@link limit} (and why) when lower. */
  roomLimit(quotaBytes: number): RoomLimit {
    if (this.limitBytes >= quotaBytes) return { bytes: quotaBytes }
    return { bytes: this.limitBytes, floor: this.info() }
  }
}
