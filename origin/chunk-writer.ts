/**
 * Cuts incoming bytes into fixed-size chunks and stores each one (hashed on the
 * store's worker pool) with a bounded window of chunks in flight. Used both for tus
 * PATCH bodies as they arrive and for ingesting local files, so every byte is copied
 * at most once and written to disk once.
 */
import type { CID } from 'multiformats/cid'
import type { ChunkStore } from '../node/store/index.ts'

/** Options of {@link ChunkWriter}. */
export interface ChunkWriterInit {
  chunkSize: number
  /** Chunks being hashed or written at once; the writer waits for the oldest past this. */
  window: number
  /**
   * Called with each chunk's bytes, in file order, once the chunk is stored and before
   * its buffer is reused (whole-file checksums are computed here).
   */
  onChunk?(bytes: Uint8Array): void
  signal?: AbortSignal
}

/** A chunk being hashed and written: `bytes` is `buf` or the front of it. */
interface Inflight {
  done: Promise<CID>
  buf: Uint8Array
  bytes: Uint8Array
}

/** Accumulates bytes into chunks and stores them in order. */
export class ChunkWriter {
  /** CIDs of chunks stored so far, in file order. */
  readonly cids: CID[] = []
  private readonly store: ChunkStore
  private readonly init: ChunkWriterInit
  private readonly inflight: Inflight[] = []
  /** Chunk buffers in shared memory, reused once stored: no allocation or GC per chunk. */
  private readonly free: Uint8Array[] = []
  private buf: Uint8Array | undefined
  private filled = 0

  constructor(store: ChunkStore, init: ChunkWriterInit, tail?: Uint8Array) {
    this.store = store
    this.init = { ...init }
    if (tail !== undefined && tail.byteLength > 0) {
      this.buf = new Uint8Array(new SharedArrayBuffer(init.chunkSize))
      this.buf.set(tail)
      this.filled = tail.byteLength
    }
  }

  /** Bytes of the unfinished chunk held in memory. */
  get tailLength(): number {
    return this.filled
  }

  /** The unfinished chunk's bytes. */
  tail(): Uint8Array {
    return this.buf === undefined ? new Uint8Array(0) : this.buf.subarray(0, this.filled)
  }

  /** Takes the next bytes of the file; they are copied, so the caller may reuse `piece`. */
  async write(piece: Uint8Array): Promise<void> {
    const size = this.init.chunkSize
    let offset = 0
    while (offset < piece.byteLength) {
      this.init.signal?.throwIfAborted()
      this.buf ??= await this.take()
      const n = Math.min(size - this.filled, piece.byteLength - offset)
      this.buf.set(piece.subarray(offset, offset + n), this.filled)
      this.filled += n
      offset += n
      if (this.filled === size) {
        const full = this.buf
        this.buf = undefined
        this.filled = 0
        await this.submit(full)
      }
    }
  }

  /**
   * Stores the next chunk, `length` bytes that `read` reads into the buffer it is given
   * and hashes (the hash pool's `readAndHash` does both on a worker thread, so a local
   * file's bytes never pass through the event loop). Does not wait for it: up to
   * `window` chunks are read, hashed and written at once. Only between whole chunks.
   */
  async submitRead(
    length: number,
    read: (into: Uint8Array) => Promise<{ bytes: Uint8Array; digest: Uint8Array }>,
  ): Promise<void> {
    if (this.filled !== 0) throw new Error('submitRead() is only possible between whole chunks')
    if (length < 1 || length > this.init.chunkSize)
      throw new RangeError(`chunk length ${length} out of range`)
    this.init.signal?.throwIfAborted()
    const buf = await this.take()
    const bytes = length === buf.byteLength ? buf : buf.subarray(0, length)
    const done = read(bytes).then(({ bytes: got, digest }) => {
      if (got.byteLength !== length) throw new Error(`read ${got.byteLength} bytes of a ${length}-byte chunk`)
      return this.store.add(got, { digest, signal: this.init.signal })
    })
    await this.enqueue({ done, buf, bytes })
  }

  /** Waits until every submitted chunk is stored. */
  async drain(): Promise<void> {
    while (this.inflight.length > 0) await this.takeOldest()
  }

  /** Stores the unfinished chunk as the file's last one and drains. Returns every CID. */
  async finish(): Promise<CID[]> {
    if (this.filled > 0 && this.buf !== undefined) {
      const last = this.buf.slice(0, this.filled)
      this.buf = undefined
      this.filled = 0
      await this.submit(last)
    }
    await this.drain()
    return this.cids
  }

  private async submit(chunk: Uint8Array): Promise<void> {
    await this.enqueue({
      done: this.store.add(chunk, { signal: this.init.signal }),
      buf: chunk,
      bytes: chunk,
    })
  }

  private async enqueue(entry: Inflight): Promise<void> {
    entry.done.catch(() => {}) // awaited in order below
    this.inflight.push(entry)
    while (this.inflight.length >= this.init.window) await this.takeOldest()
  }

  private async takeOldest(): Promise<void> {
    const oldest = this.inflight[0]
    try {
      this.cids.push(await oldest.done)
    } catch (err) {
      // let the other writes settle so nothing runs on after the failure is reported
      await Promise.allSettled(this.inflight.map((e) => e.done))
      this.inflight.length = 0
      throw err
    }
    this.inflight.shift()
    this.init.onChunk?.(oldest.bytes)
    // stores never keep a shared buffer (ChunkStore contract), so it can be reused
    if (oldest.buf.buffer instanceof SharedArrayBuffer && oldest.buf.byteLength === this.init.chunkSize) {
      if (this.free.length <= this.init.window) this.free.push(oldest.buf)
    }
  }

  /** A free chunk buffer: recycled, else the kind the store writes fastest, else plain shared memory. */
  private async take(): Promise<Uint8Array> {
    const size = this.init.chunkSize
    return (
      this.free.pop() ?? (await this.store.chunkBuffer?.(size)) ?? new Uint8Array(new SharedArrayBuffer(size))
    )
  }
}
