/**
 * Shared-memory buffers that received chunks are assembled in. A hash worker reads such
 * a buffer in place (no copy into its scratch memory), an on-disk store writes it as it
 * is (straight to disk when the buffer came from the store's own allocator), and the
 * buffer is reused for the next chunk once the store's put has settled (a store never
 * keeps a reference to shared-memory bytes).
 */

/** Options of {@link ChunkBuffers}. */
export interface ChunkBuffersInit {
  /**
   * Bytes of free buffers kept for reuse; buffers given back beyond this are left to the GC.
   * @default 16 MiB
   */
  maxFreeBytes?: number
  /**
   * Makes the buffers the store writes fastest (`FsChunkStore.chunkBuffer`: aligned for
   * direct I/O), or `undefined` if it has none. The decoder needs a buffer at once, so
   * these are made in the background, a few at a time, whenever a take finds none free:
   * meanwhile {@link ChunkBuffers.take} hands out plain shared memory, and the store's own
   * buffers push plain ones out of the free list.
   */
  alloc?: (size: number) => Promise<Uint8Array | undefined>
}

/** The store's buffers made at once (each costs a few probe writes, about 2 ms). */
const MAX_MAKING = 4

/** A bounded free list of shared-memory chunk buffers. */
export class ChunkBuffers {
  /** Free buffers, each a whole buffer as made (never a sub-view). */
  private free: Uint8Array[] = []
  private freeBytes = 0
  private readonly maxFreeBytes: number
  private readonly alloc?: (size: number) => Promise<Uint8Array | undefined>
  /** The whole buffer behind each view handed out. */
  private readonly wholes = new WeakMap<ArrayBufferLike, Uint8Array>()
  /** Buffers from `alloc` (the others are plain). */
  private readonly own = new WeakSet<ArrayBufferLike>()
  /** Buffers being made now. */
  private making = 0
  /** `alloc` said no (or failed): stop asking. */
  private allocless = false
  /** Bumped by {@link clear}, so a buffer made before it is not kept. */
  private generation = 0

  constructor(init: ChunkBuffersInit = {}) {
    this.maxFreeBytes = init.maxFreeBytes ?? 16 * 1024 * 1024
    this.alloc = init.alloc
  }

  /** A buffer of exactly `size` bytes (a view of a free one at least that large, or a new one). */
  take(size: number): Uint8Array {
    // the store's own buffer if one is free, else the plain one given back last
    let found = -1
    for (let i = this.free.length - 1; i >= 0; i--) {
      const whole = this.free[i]
      if (whole.byteLength < size || whole.byteLength > 2 * size) continue
      if (this.own.has(whole.buffer)) {
        found = i
        break
      }
      if (found < 0) found = i
    }
    if (found < 0 || !this.own.has(this.free[found].buffer)) this.makeOwn(size)
    if (found < 0) {
      const plain = new Uint8Array(new SharedArrayBuffer(size))
      this.wholes.set(plain.buffer, plain)
      return plain
    }
    const whole = this.free.splice(found, 1)[0]
    this.freeBytes -= whole.byteLength
    return whole.byteLength === size ? whole : whole.subarray(0, size)
  }

  /** Gives back a buffer from {@link take}; the caller must not touch its bytes afterwards. */
  give(bytes: Uint8Array): void {
    const whole = this.wholes.get(bytes.buffer)
    if (whole !== undefined) this.keep(whole)
  }

  /**
   * Starts making the store's own buffers of `size` bytes before chunks of that size
   * arrive ({@link MAX_MAKING} at once, fewer if some are free already; takes that find
   * none free make more).
   */
  prepare(size: number): void {
    if (this.alloc === undefined || this.allocless || size <= 0) return
    let ready = 0
    for (const whole of this.free) if (this.own.has(whole.buffer) && whole.byteLength >= size) ready++
    const want = Math.min(MAX_MAKING, Math.floor(this.maxFreeBytes / size)) - ready
    for (let i = 0; i < want; i++) this.makeOwn(size)
  }

  /** Drops every free buffer. */
  clear(): void {
    this.free = []
    this.freeBytes = 0
    this.generation++
  }

  /** Keeps a free buffer if there is room; the store's own buffers make room by dropping plain ones. */
  private keep(whole: Uint8Array): void {
    if (this.own.has(whole.buffer)) {
      for (let i = 0; i < this.free.length && this.freeBytes + whole.byteLength > this.maxFreeBytes; ) {
        if (this.own.has(this.free[i].buffer)) i++
        else this.freeBytes -= this.free.splice(i, 1)[0].byteLength
      }
    }
    if (this.freeBytes + whole.byteLength > this.maxFreeBytes) return
    this.free.push(whole)
    this.freeBytes += whole.byteLength
  }

  /** Makes one of the store's buffers in the background. */
  private makeOwn(size: number): void {
    if (this.alloc === undefined || this.allocless || this.making >= MAX_MAKING) return
    this.making++
    const generation = this.generation
    this.alloc(size)
      .then((made) => {
        if (made === undefined) {
          this.allocless = true
          return
        }
        if (generation !== this.generation) return
        this.own.add(made.buffer)
        this.wholes.set(made.buffer, made)
        this.keep(made)
      })
      .catch(() => {
        this.allocless = true
      })
      .finally(() => {
        this.making--
      })
  }
}
