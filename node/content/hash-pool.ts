/**
 * A pool of worker threads that hash chunks with BLAKE3, so that ingest and
 * verification go past one core. With `size: 0` it hashes on the calling thread. Its
 * options and `readAndHash`'s arguments and result are in `hash-pool-types.ts`.
 */
import { read, write } from 'node:fs'
import { availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { Worker } from 'node:worker_threads'
import { HASH_QUEUE_PER_WORKER } from '../constants.ts'
import { NotStartedError } from '../errors.ts'
import { type Blake3Implementation, blake3Implementation } from './blake3.ts'
import { blake3 } from './cid.ts'
import type { HashPoolInit, ReadAndHashOptions, ReadAndHashResult } from './hash-pool-types.ts'

export type {
  HashPoolInit,
  ReadAndHashOptions,
  ReadAndHashResult,
  WriteTarget,
} from './hash-pool-types.ts'

const DIGEST_BYTES = 32

/** What a worker sends back for one request. */
interface Reply {
  id: number
  /** Each chunk's digest, one after the other. */
  digests?: Uint8Array
  bytesRead?: number
  error?: { message: string; code?: string }
}

interface Pending {
  resolve(reply: Reply): void
  reject(err: Error): void
}

const readAt = promisify(read)
const writeAt = promisify(write)

interface Slot {
  worker: Worker
  inflight: number
  /** The BLAKE3 the worker says it loaded (its first message). */
  loaded?: Blake3Implementation
  /** Settles once the worker has loaded its BLAKE3, or has failed or exited. */
  started: Promise<void>
}

/**
 * How long a worker still loading its BLAKE3 is given before it is terminated anyway. Killing
 * a worker while the native addon registers itself aborts the whole process (node-addon-api
 * throws into an environment being torn down: "FATAL ERROR: Error::ThrowAsJavaScriptException
 * napi_throw"), seen when an origin was stopped right after it started, on a loaded machine.
 */
const WORKER_LOAD_WAIT_MS = 10_000

/** Hashes chunks on worker threads, reading them in place from shared memory. */
export class HashPool {
  readonly size: number
  private slots: Slot[] = []
  private readonly pending = new Map<number, Pending & { slot: Slot }>()
  private nextId = 0
  /** Shared scratch buffers for chunks not already in shared memory (at most `concurrency`). */
  private readonly scratch: SharedArrayBuffer[] = []

  private readonly idleMs?: number
  /** The BLAKE3 the workers load. */
  readonly implementation: Blake3Implementation
  private running = false
  private idleTimer?: NodeJS.Timeout

  constructor(init: HashPoolInit = {}) {
    this.size = Math.max(0, init.size ?? availableParallelism())
    this.idleMs = init.idleMs
    this.implementation = this.size === 0 ? blake3Implementation : (init.blake3 ?? blake3Implementation)
  }

  /** Worker threads running now. */
  get workers(): number {
    return this.slots.length
  }

  /** The BLAKE3 each running worker has reported loading (workers still starting are left out). */
  get loadedImplementations(): Blake3Implementation[] {
    return this.slots.flatMap((s) => (s.loaded === undefined ? [] : [s.loaded]))
  }

  /** Starts the worker threads (or, with `idleMs`, allows them to start on demand). */
  start(): void {
    this.running = true
    if (this.idleMs === undefined) this.spawn()
  }

  /** Terminates the workers; pending hashes are rejected. */
  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.idleTimer)
    await this.terminate(new NotStartedError('hash pool'))
  }

  private spawn(): void {
    while (this.slots.length < this.size) {
      const worker = new Worker(new URL('./hash-worker.js', import.meta.url), {
        workerData: { blake3: this.implementation },
        // hashing needs almost no JS heap; keep each isolate small
        resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
      })
      let started!: () => void
      const slot: Slot = { worker, inflight: 0, started: new Promise<void>((r) => (started = r)) }
      worker.unref()
      worker.on('message', (msg: Reply | { loaded: Blake3Implementation }) => {
        if ('loaded' in msg) {
          slot.loaded = msg.loaded
          started()
          return
        }
        const p = this.pending.get(msg.id)
        if (p === undefined) return
        this.pending.delete(msg.id)
        p.slot.inflight--
        p.resolve(msg)
        if (this.pending.size === 0) this.idleLater()
      })
      // a worker that dies takes its hashes with it; the next hash starts a new one
      worker.on('error', (err) => {
        started()
        this.retire(slot, err)
      })
      worker.on('exit', (code) => {
        started()
        this.retire(slot, new Error(`hash worker exited with code ${code}`))
      })
      this.slots.push(slot)
    }
  }

  private retire(slot: Slot, err: Error): void {
    this.slots = this.slots.filter((s) => s !== slot)
    this.failSlot(slot, err)
  }

  private async terminate(err: Error): Promise<void> {
    const slots = this.slots
    this.slots = []
    for (const slot of slots) this.failSlot(slot, err)
    await Promise.all(
      slots.map(async (s) => {
        // never while it loads its BLAKE3 (see WORKER_LOAD_WAIT_MS)
        await Promise.race([s.started, sleep(WORKER_LOAD_WAIT_MS, undefined, { ref: false })])
        await s.worker.terminate()
      }),
    )
  }

  private idleLater(): void {
    if (this.idleMs === undefined) return
    clearTimeout(this.idleTimer)
    this.idleTimer = setTimeout(() => {
      if (this.pending.size === 0) void this.terminate(new NotStartedError('hash pool'))
    }, this.idleMs)
    this.idleTimer.unref()
  }

  /**
   * BLAKE3-256 of `bytes`, which are never moved or changed: a chunk in a
   * `SharedArrayBuffer` is hashed in place; any other chunk is first copied into a
   * pooled shared scratch buffer (a memcpy, a few percent of the hash's cost), so the
   * caller's buffer — possibly a view of a larger one — is never detached.
   */
  async hash(bytes: Uint8Array): Promise<{ bytes: Uint8Array; digest: Uint8Array }> {
    if (this.size === 0) return { bytes, digest: blake3(bytes) }
    const shared = bytes.buffer instanceof SharedArrayBuffer
    const scratch = shared ? undefined : this.takeScratch(bytes.byteLength)
    const view = scratch === undefined ? bytes : new Uint8Array(scratch, 0, bytes.byteLength)
    if (scratch !== undefined) view.set(bytes)
    try {
      const reply = await this.dispatch({ bytes: view })
      return { bytes, digest: reply.digests as Uint8Array }
    } finally {
      if (scratch !== undefined && this.scratch.length < this.concurrency) this.scratch.push(scratch)
    }
  }

  /**
   * Reads up to `into.byteLength` bytes of the open file `fd` from `position` into
   * `into` (shared memory) and hashes what it read, both on a worker thread: a file
   * being ingested never passes through the event loop. With `chunkSize`, the bytes
   * are several chunks, hashed one by one; with `writeTo`, the worker then writes them
   * there too. Returns the bytes read (fewer only at the end of the file), a view of
   * `into`, and the digest of each chunk.
   * @throws TypeError when `into` is not in a `SharedArrayBuffer`
   * @throws the read's or write's own error (e.g. `EIO`, `EBADF`, `ENOSPC`), with its `code`
   */
  async readAndHash(
    fd: number,
    position: number,
    into: Uint8Array,
    options: ReadAndHashOptions = {},
  ): Promise<ReadAndHashResult> {
    if (!(into.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError('readAndHash needs a buffer in shared memory')
    }
    const chunkSize = options.chunkSize ?? Math.max(1, into.byteLength)
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) throw new RangeError(`bad chunk size ${chunkSize}`)
    options.signal?.throwIfAborted()
    const target = options.writeTo
    if (this.size === 0) {
      let got = 0
      while (got < into.byteLength) {
        const n = (await readAt(fd, into, got, into.byteLength - got, position + got)).bytesRead
        if (n === 0) break
        got += n
      }
      const bytes = into.subarray(0, got)
      const digests: Uint8Array[] = []
      for (let at = 0; at < got || digests.length === 0; at += chunkSize) {
        digests.push(blake3(bytes.subarray(at, at + chunkSize)))
      }
      for (let done = 0; target !== undefined && done < got; ) {
        done += (await writeAt(target.fd, bytes, done, got - done, target.position + done)).bytesWritten
      }
      return { bytes, digests }
    }
    const reply = await this.dispatch({
      bytes: into,
      chunkSize,
      fd,
      position,
      ...(target === undefined ? {} : { writeFd: target.fd, writePosition: target.position }),
    })
    if (reply.error !== undefined) {
      throw Object.assign(new Error(reply.error.message), { code: reply.error.code })
    }
    const all = reply.digests as Uint8Array
    const digests: Uint8Array[] = []
    for (let at = 0; at < all.byteLength; at += DIGEST_BYTES)
      digests.push(all.subarray(at, at + DIGEST_BYTES))
    return { bytes: into.subarray(0, reply.bytesRead), digests }
  }

  /** Sends one request to the least busy worker (starting workers as needed). */
  private async dispatch(request: {
    bytes: Uint8Array
    chunkSize?: number
    fd?: number
    position?: number
    writeFd?: number
    writePosition?: number
  }): Promise<Reply> {
    if (!this.running) throw new NotStartedError('hash pool')
    clearTimeout(this.idleTimer)
    if (this.slots.length < this.size) this.spawn()
    let slot = this.slots[0]
    for (const s of this.slots) if (s.inflight < slot.inflight) slot = s
    const id = this.nextId++
    slot.inflight++
    return await new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot })
      slot.worker.postMessage({ id, ...request })
    })
  }

  private takeScratch(size: number): SharedArrayBuffer {
    const i = this.scratch.findIndex((b) => b.byteLength >= size)
    if (i >= 0) return this.scratch.splice(i, 1)[0]
    return new SharedArrayBuffer(size)
  }

  /** How many chunks may be in flight to keep every worker busy. */
  get concurrency(): number {
    return Math.max(1, this.size * HASH_QUEUE_PER_WORKER)
  }

  private failSlot(slot: Slot, err: Error): void {
    for (const [id, p] of this.pending) {
      if (p.slot !== slot) continue
      this.pending.delete(id)
      p.reject(err)
    }
  }
}
