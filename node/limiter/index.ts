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
 * ahead of now. Waiters queue in arrival order and only the head has a timer (no
 * polling), so a limited node spends no CPU on the limiter between chunks. A rate change
 * applies at once to the bytes already booked: those still owed, waiting or not, are
 * re-timed at the new rate (raising speeds the queue up, lowering slows it down,
 * `Infinity` releases it). The queue holds one entry per pending `take`, each with only
 * its byte count; its callers bound it (requests in flight, upload slots).
 */
export class TokenBucket {
  private rate: number
  private readonly burstMs: number
  private readonly now: () => number
  /** Virtual finishing time of every byte booked: those let through and those waiting. */
  private tat = 0
  /** Takes waiting, in arrival order. */
  private readonly waiters: Waiter[] = []
  /** Bytes of the takes waiting. */
  private waitingBytes = 0
  /** The head's timer, the only one. */
  private timer: ReturnType<typeof setTimeout> | undefined
  /** Bytes that went through or are waiting to. */
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

  /**
   * Changes the rate. The bytes still owed keep their count and are re-timed at the new
   * rate, so the takes waiting pass as if they had been booked at it from now on, in the
   * same order; at `Infinity` they all pass at once.
   */
  setRate(bytesPerSecond: number): void {
    const rate = checkRate(bytesPerSecond)
    const now = this.now()
    if (!Number.isFinite(rate)) this.tat = 0
    else if (this.tat > now) this.tat = now + ((this.tat - now) * this.rate) / rate
    this.rate = rate
    this.schedule()
  }

  /** Waits until `n` bytes may pass. Rejects with the signal's reason when aborted (the bytes are refunded). */
  async take(n: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = options
    signal?.throwIfAborted()
    this.bytes += n
    if (!Number.isFinite(this.rate)) return
    const now = this.now()
    this.tat = Math.max(this.tat, now) + this.ms(n)
    if (this.waiters.length === 0 && this.tat - now <= this.burstMs) return
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        n,
        release: () => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        },
      }
      const onAbort = (): void => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1)
        this.waitingBytes -= n
        this.tat -= this.ms(n)
        this.bytes -= n
        this.schedule()
        reject(signal?.reason)
      }
      this.waiters.push(waiter)
      this.waitingBytes += n
      signal?.addEventListener('abort', onAbort, { once: true })
      if (this.waiters.length === 1) this.schedule()
    })
  }

  /** Releases the waiters whose time has come and sets the one timer for the next. */
  private schedule(): void {
    clearTimeout(this.timer)
    this.timer = undefined
    const now = this.now()
    while (this.waiters.length > 0) {
      const head = this.waiters[0]
      // the head's bytes end where the bytes booked behind it begin
      const due = this.tat - this.ms(this.waitingBytes - head.n) - this.burstMs
      if (due > now && Number.isFinite(this.rate)) {
        // a Node timer waits at most MAX_TIMER_MS and fires at once past it: a very low
        // rate (or a huge take) waits in steps, or it would not limit at all
        this.timer = setTimeout(() => this.schedule(), Math.min(due - now, MAX_TIMER_MS))
        return
      }
      this.waiters.shift()
      this.waitingBytes -= head.n
      head.release()
    }
  }

  /** How long `n` bytes take at the current rate (0 at `Infinity`). */
  private ms(n: number): number {
    return (n / this.rate) * 1000
  }
}

/** A `take` waiting in a {@link TokenBucket}: only its byte count and how to let it go. */
interface Waiter {
  readonly n: number
  release(): void
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

  /** Changes any of the rates at runtime; requests already waiting are re-timed at once (see {@link TokenBucket}). */
  set(limits: Partial<Limits>): void {
    const changes: Array<[TokenBucket, number | undefined]> = [
      [this.upload, limits.uploadBytesPerSecond],
      [this.download, limits.downloadBytesPerSecond],
      [this.origin, limits.originBytesPerSecond],
    ]
    // every rate is checked before any applies: a bad one changes nothing
    for (const [, rate] of changes) if (rate !== undefined) checkRate(rate)
    for (const [bucket, rate] of changes) if (rate !== undefined) bucket.setRate(rate)
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
