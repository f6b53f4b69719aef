/**
 * Exponential backoff with jitter for a remote that is failing: after the n-th failure in
 * a row it is left alone for `initialMs · 2^(n-1)` (capped at `maxMs`), times 0.5–1.5 so
 * that the nodes of a campus that saw the same outage do not all come back in one burst.
 * A success resets it.
 */
export interface BackoffInit {
  initialMs: number
  maxMs: number
  /** @default Math.random */
  random?: () => number
  /** @default performance.now */
  now?: () => number
}

export class Backoff {
  /** Failures since the last success. */
  failures = 0
  private until = 0
  private readonly init: BackoffInit
  private readonly random: () => number
  private readonly now: () => number

  constructor(init: BackoffInit) {
    this.init = init
    this.random = init.random ?? Math.random
    this.now = init.now ?? (() => performance.now())
  }

  /** Whether the remote may be tried now. */
  get ready(): boolean {
    return this.now() >= this.until
  }

  /** Milliseconds until it may be tried again; 0 when it may be now. */
  get remainingMs(): number {
    return Math.max(0, this.until - this.now())
  }

  /** Records a failure; returns how long the remote is now left alone, in ms. */
  failure(): number {
    this.failures++
    const delay =
      Math.min(this.init.initialMs * 2 ** (this.failures - 1), this.init.maxMs) * (0.5 + this.random())
    this.until = this.now() + delay
    return delay
  }

  success(): void {
    this.failures = 0
    this.until = 0
  }
}
