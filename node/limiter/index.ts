/**
 * Token buckets that cap a node's upload, download and origin (WAN) traffic. Rates can
 * be changed at runtime; `Infinity` means no limit.
 */
import { BUCKET_BURST_MS, MAX_CONCURRENT_SERVES, MAX_TIMER_MS } from '../node-constants.ts'

/** Options of {@link TokenBucket}. */
export interface TokenBucketInit {
  /** Bytes per second. @default Infinity */
  bytesPerSecond?: number
  /** Burst allowance in milliseconds of the rate. @default 100 */
  burstMs?: number
  /** Clock in ms. @default performance.now */
  now?: () => number
}

/**
 * A token bucket in its "virtual finishing time" form (GCRA): each `take(n)` moves a
 * finishing time forward by `n / rate` and waits until it is no more than one burst
 * ahead of now. Waiters are served in arrival order, there is one timer per waiter and
 * no polling, so a limited node spends no CPU on the limiter between chunks.
 */
export class TokenBucket {
  private rate: number
  private readonly burstMs: number
  private readonly now: () => number
  private tat = 0
  /** Bytes that went through. */
  bytes = 0

  constructor(init: TokenBucketInit = {}) {
    this.rate = checkRate(init.bytesPerSecond ?? Number.POSITIVE_INFINITY)
    this.burstMs = init.burstMs ?? BUCKET_BURST_MS
    this.now = init.now ?? (() => performance.now())
  }

  /** Current rate in bytes per second. */
  get bytesPerSecond(): number {
    return this.rate
  }

  /** Changes the rate; waits already scheduled keep their time, new ones use the new rate. */
  setRate(bytesPerSecond: number): void {
    this.rate = checkRate(bytesPerSecond)
    if (!Number.isFinite(this.rate)) this.tat = 0
  }

  /** Waits until `n` bytes may pass. Rejects with the signal's reason when aborted (the bytes are refunded). */
  async take(n: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    this.bytes += n
    if (!Number.isFinite(this.rate)) return
    const now = this.now()
    const cost = (n / this.rate) * 1000
    this.tat = Math.max(this.tat, now) + cost
    const wait = this.tat - now - this.burstMs
    if (wait <= 0) return
    await new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const onAbort = (): void => {
        clearTimeout(timer)
        this.tat -= cost
        this.bytes -= n
        reject(options.signal?.reason)
      }
      // a Node timer waits at most MAX_TIMER_MS and fires at once past it: a very low rate
      // (or a huge take) waits in steps, or it would not limit at all
      let left = wait
      const step = (): void => {
        const ms = Math.min(left, MAX_TIMER_MS)
        left -= ms
        timer = setTimeout(() => {
          if (left > 0) return step()
          options.signal?.removeEventListener('abort', onAbort)
          resolve()
        }, ms)
      }
      step()
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

function checkRate(rate: number): number {
  if (!(rate > 0)) throw new RangeError(`rate must be positive, got ${rate}`)
  return rate
}

/** Rates of the three buckets of a node, bytes per second (`Infinity` = unlimited). */
export interface Limits {
  uploadBytesPerSecond: number
  downloadBytesPerSecond: number
  originBytesPerSecond: number
}

/** The buckets of one node. */
export class Limiter {
  readonly upload: TokenBucket
  readonly download: TokenBucket
  readonly origin: TokenBucket
  /** Chunks being read and sent at once, across all peers and swarms (bounds memory). */
  readonly uploads = new UploadGate(MAX_CONCURRENT_SERVES)

  constructor(init: Partial<Limits> = {}) {
    this.upload = new TokenBucket({ bytesPerSecond: init.uploadBytesPerSecond })
    this.download = new TokenBucket({ bytesPerSecond: init.downloadBytesPerSecond })
    this.origin = new TokenBucket({ bytesPerSecond: init.originBytesPerSecond })
  }

  /** Changes any of the rates at runtime. */
  set(limits: Partial<Limits>): void {
    if (limits.uploadBytesPerSecond !== undefined) this.upload.setRate(limits.uploadBytesPerSecond)
    if (limits.downloadBytesPerSecond !== undefined) this.download.setRate(limits.downloadBytesPerSecond)
    if (limits.originBytesPerSecond !== undefined) this.origin.setRate(limits.originBytesPerSecond)
  }

  get(): Limits {
    return {
      uploadBytesPerSecond: this.upload.bytesPerSecond,
      downloadBytesPerSecond: this.download.bytesPerSecond,
      originBytesPerSecond: this.origin.bytesPerSecond,
    }
  }
}

/** A session waiting for an upload slot, and how rare its most wanted chunk is. */
export interface UploadWaiter {
  /** Availability of the rarest chunk this waiter would send (lower goes first). */
  rarity(): number
  grant(): void
}

/**
 * Upload slots of a node: at most `slots` chunks are read and sent at once across all
 * peers and swarms, which bounds chunk memory and keeps the upload bucket from being
 * booked far ahead. A freed slot goes to the waiter whose next chunk is rarest, so a
 * chunk that only this node holds leaves first instead of queueing behind common ones.
 */
export class UploadGate {
  private free: number
  private readonly waiters = new Set<UploadWaiter>()

  constructor(slots: number) {
    this.free = slots
  }

  /** Resolves when a slot is granted; rejects (and gives up its place) on abort. */
  async acquire(rarity: () => number, options: { signal?: AbortSignal } = {}): Promise<void> {
    options.signal?.throwIfAborted()
    if (this.free > 0) {
      this.free--
      return
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: UploadWaiter = {
        rarity,
        grant: () => {
          options.signal?.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      const onAbort = (): void => {
        this.waiters.delete(waiter)
        reject(options.signal?.reason)
      }
      this.waiters.add(waiter)
      options.signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  release(): void {
    let best: UploadWaiter | undefined
    let bestRarity = Number.POSITIVE_INFINITY
    for (const w of this.waiters) {
      const r = w.rarity()
      if (best === undefined || r < bestRarity) {
        best = w
        bestRarity = r
      }
    }
    if (best === undefined) {
      this.free++
      return
    }
    this.waiters.delete(best)
    best.grant()
  }
}
