/**
 * Room in a chunk store: bytes being written are held against the store's limit (its
 * quota, or less when its disk's free-space floor binds) until they are written, so
 * concurrent writes cannot overshoot it. Short of room, the owner's `makeRoom` frees what
 * it can first (one call at a time), then the store evicts chunks itself when allowed
 * (`evictWhenFull`); a write that still does not fit is refused with a
 * `QuotaExceededError` that names what binds.
 */
import { type DiskFloorInfo, QuotaExceededError } from '../errors.ts'
import type { AbortOptions, ChunkStoreInit } from './index.ts'

/** The most bytes a store may hold now, and its disk's floor when that is what binds. */
export interface RoomLimit {
  bytes: number
  floor?: DiskFloorInfo
}

/** What {@link Room} reads of its store, and the store's own eviction. */
export interface RoomComponents {
  /** Bytes the store holds now. */
  stored: () => number
  /** The store's limit now (see {@link RoomLimit}). */
  limit: () => RoomLimit
  /** Evicts unpinned chunks, least recently used first, until `bytes` are freed; returns bytes freed. */
  evict: (bytes: number, options: AbortOptions) => Promise<number>
}

/** Options of {@link Room}, as the store was given them. */
export interface RoomInit {
  /** Byte quota of the store (for the refusal's message). */
  quotaBytes: number
  /** See {@link ChunkStoreInit.evictWhenFull}. @default false */
  evictWhenFull?: boolean
  /** See {@link ChunkStoreInit.makeRoom}. */
  makeRoom?: ChunkStoreInit['makeRoom']
}

/** The bytes being written into one store, held against its limit (see the module comment). */
export class Room {
  private readonly c: RoomComponents
  private readonly quotaBytes: number
  private readonly evictWhenFull: boolean
  private readonly makeRoom?: ChunkStoreInit['makeRoom']
  /** The owner's `makeRoom` calls, one after the other. */
  private makingRoom: Promise<void> = Promise.resolve()
  /** Bytes reserved by writes under way. */
  private reserved = 0
  /** Reservations refused for lack of room, since created. */
  refused = 0

  constructor(components: RoomComponents, init: RoomInit) {
    this.c = components
    this.quotaBytes = init.quotaBytes
    this.evictWhenFull = init.evictWhenFull ?? false
    this.makeRoom = init.makeRoom
  }

  /**
   * Makes room for `size` more bytes (evicting when allowed) and holds it until
   * {@link release}. `chunk`: the key of the one chunk the room is for, if so.
   * @throws QuotaExceededError when there is no room
   */
  async reserve(size: number, options: AbortOptions = {}, chunk?: string): Promise<void> {
    const needed = (): number => this.c.stored() + this.reserved + size - this.c.limit().bytes
    if (needed() > 0 && this.makeRoom !== undefined) {
      const makeRoom = this.makeRoom
      const run = this.makingRoom.then(async () => {
        if (needed() > 0) await makeRoom(needed, options, chunk)
      })
      this.makingRoom = run.catch(() => {})
      await run
    }
    if (needed() > 0) {
      if (this.evictWhenFull) await this.c.evict(needed(), options)
      if (needed() > 0) {
        this.refused++
        const { floor } = this.c.limit()
        const held = `(${this.c.stored()} stored, ${this.reserved} being written)`
        throw floor === undefined
          ? new QuotaExceededError(
              `storing ${size} bytes would exceed the quota of ${this.quotaBytes} bytes ${held}`,
            )
          : new QuotaExceededError(
              `storing ${size} bytes would leave less than the ${floor.minFreeBytes} bytes kept free on the disk of ${floor.dir} ${held}`,
              { diskFloor: floor },
            )
      }
    }
    options.signal?.throwIfAborted()
    this.reserved += size
  }

  /** Gives back room {@link reserve} held, once its bytes are written (or failed to be). */
  release(size: number): void {
    this.reserved -= size
  }
}
