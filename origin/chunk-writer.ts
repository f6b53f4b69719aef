/**
 * Cuts incoming bytes into fixed-size chunks and stores each one (hashed on the
 * store's worker pool) with a bounded window of chunks in flight. Used both for tus
 * PATCH bodies as they arrive and for ingesting local files, so every byte is copied
 * at most once and written to disk once.
 */
import type { CID } from 'multiformats/cid'
import type { ChunkStore, ChunkTarget } from '../node/store/index.ts'

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

/** Chunks being hashed and written: `bytes` is `buf` or the front of it, `lengths` its chunks. */
interface Inflight {
  done: Promise<CID[]>
  buf: Uint8Array
  bytes: Uint8Array
  lengths: number[]
}

/** Accumulates bytes into chunks and stores them in order. */
export class ChunkWriter {
  /** CIDs of chunks stored so far, in file order. */
  readonly cids: CID[] = []
  private readonly store: ChunkStore
  private readonly init: ChunkWriterInit
  private readonly inflight: Inflight[] = []
  /** Chunks in {@link inflight}. */
  private inflightChunks = 0
  /** Buffers in shared memory by size, reused once stored: no allocation or GC per chunk. */
  private readonly free = new Map<number, Uint8Array[]>()
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
   * Stores the next chunks, of the given `lengths`, that `read` reads into the buffer it
   * is given and hashes one by one (the hash pool's `readAndHash` does both on a worker
   * thread, so a local file's bytes never pass through the event loop). When the store
   * takes chunks in place, `read` also gets where to write them and does that too, on
   * the same thread. Does not wait for them: up to `window` chunks are read, hashed and
   * written at once. Only between whole chunks.
   */
  async submitRead(
    lengths: number[],
    read: (into: Uint8Array, writeTo?: ChunkTarget) => Promise<{ bytes: Uint8Array; digests: Uint8Array[] }>,
  ): Promise<void> {
    if (this.filled !== 0) throw new Error('submitRead() is only possible between whole chunks')
    const size = this.init.chunkSize
    if (lengths.length === 0 || lengths.some((n) => !Number.isSafeInteger(n) || n < 1 || n > size)) {
      throw new RangeError(`chunk lengths ${lengths.join(',')} out of range`)
    }
    this.init.signal?.throwIfAborted()
    const total = lengths.reduce((a, b) => a + b, 0)
    const buf = await this.take(lengths.length * size)
    const bytes = total === buf.byteLength ? buf : buf.subarray(0, total)
    const checked = async (into: Uint8Array, writeTo?: ChunkTarget) => {
      const got = await read(into, writeTo)
      if (got.bytes.byteLength !== total || got.digests.length !== lengths.length) {
        throw new Error(
          `read ${got.bytes.byteLength} bytes in ${got.digests.length} chunks, expected ${total} in ${lengths.length}`,
        )
      }
      return got
    }
    const signal = this.init.signal
    const done =
      this.store.addInPlace === undefined
        ? checked(bytes).then(({ digests }) =>
            Promise.all(
              slices(bytes, lengths).map((chunk, i) => this.store.add(chunk, { digest: digests[i], signal })),
            ),
          )
        : this.store.addInPlace(bytes, lengths, (target) => checked(bytes, target), { signal })
    await this.enqueue({ done, buf, bytes, lengths })
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
      done: this.store.add(chunk, { signal: this.init.signal }).then((cid) => [cid]),
      buf: chunk,
      bytes: chunk,
      lengths: [chunk.byteLength],
    })
  }

  private async enqueue(entry: Inflight): Promise<void> {
    entry.done.catch(() => {}) // awaited in order below
    this.inflight.push(entry)
    this.inflightChunks += entry.lengths.length
    while (this.inflightChunks >= this.init.window) await this.takeOldest()
  }

  private async takeOldest(): Promise<void> {
    const oldest = this.inflight[0]
    try {
      this.cids.push(...(await oldest.done))
    } catch (err) {
      // let the other writes settle so nothing runs on after the failure is reported
      await Promise.allSettled(this.inflight.map((e) => e.done))
      this.inflight.length = 0
      this.inflightChunks = 0
      throw err
    }
    this.inflight.shift()
    this.inflightChunks -= oldest.lengths.length
    for (const chunk of slices(oldest.bytes, oldest.lengths)) this.init.onChunk?.(chunk)
    // stores never keep a shared buffer (ChunkStore contract), so it can be reused
    if (oldest.buf.buffer instanceof SharedArrayBuffer) {
      const free = this.free.get(oldest.buf.byteLength) ?? []
      this.free.set(oldest.buf.byteLength, free)
      if (free.length <= this.init.window) free.push(oldest.buf)
    }
  }

  /** A free buffer: recycled, else the kind the store writes fastest, else plain shared memory. */
  private async take(size: number = this.init.chunkSize): Promise<Uint8Array> {
    return (
      this.free.get(size)?.pop() ??
      (await this.store.chunkBuffer?.(size)) ??
      new Uint8Array(new SharedArrayBuffer(size))
    )
  }
}

/** `bytes` cut into consecutive pieces of the given lengths. */
function slices(bytes: Uint8Array, lengths: number[]): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0, i = 0; i < lengths.length; at += lengths[i++])
    out.push(bytes.subarray(at, at + lengths[i]))
  return out
}
