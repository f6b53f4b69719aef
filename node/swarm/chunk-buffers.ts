/**
 * Shared-memory buffers that received chunks are assembled in. A hash worker reads such
 * a buffer in place (no copy into its scratch memory), an on-disk store writes it as it
 * is, and the buffer is reused for the next chunk once the store's put has settled (a
 * store never keeps a reference to shared-memory bytes).
 */

/** Options of {@link ChunkBuffers}. */
export interface ChunkBuffersInit {
  /**
   * Bytes of free buffers kept for reuse; buffers given back beyond this are left to the GC.
   * @default 8 MiB
   */
  maxFreeBytes?: number
}

/** A bounded free list of shared-memory chunk buffers. */
export class ChunkBuffers {
  private readonly free: SharedArrayBuffer[] = []
  private freeBytes = 0
  private readonly maxFreeBytes: number

  constructor(init: ChunkBuffersInit = {}) {
    this.maxFreeBytes = init.maxFreeBytes ?? 8 * 1024 * 1024
  }

  /** A buffer of exactly `size` bytes (a view of a free one at least that large, or a new one). */
  take(size: number): Uint8Array {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const sab = this.free[i]
      if (sab.byteLength < size || sab.byteLength > 2 * size) continue
      this.free.splice(i, 1)
      this.freeBytes -= sab.byteLength
      return new Uint8Array(sab, 0, size)
    }
    return new Uint8Array(new SharedArrayBuffer(size))
  }

  /** Gives back a buffer from {@link take}; the caller must not touch its bytes afterwards. */
  give(bytes: Uint8Array): void {
    const sab = bytes.buffer
    if (!(sab instanceof SharedArrayBuffer) || this.freeBytes + sab.byteLength > this.maxFreeBytes) return
    this.free.push(sab)
    this.freeBytes += sab.byteLength
  }

  /** Drops every free buffer. */
  clear(): void {
    this.free.length = 0
    this.freeBytes = 0
  }
}
