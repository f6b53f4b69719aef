/** A token bucket: `burst` tokens, one more every `refillMs`, read off an injectable clock. */
export class TokenBucket {
  private tokens: number
  private refilled: number
  private readonly burst: number
  private readonly refillMs: number
  private readonly now: () => number

  constructor(burst: number, refillMs: number, now: () => number = Date.now) {
    this.burst = burst
    this.refillMs = refillMs
    this.now = now
    this.tokens = burst
    this.refilled = now()
  }

  /** Whether a token is available now (takes none). */
  ready(): boolean {
    this.refill()
    return this.tokens >= 1
  }

  /** Takes one token if there is one; false otherwise. */
  take(): boolean {
    if (!this.ready()) return false
    this.tokens--
    return true
  }

  private refill(): void {
    const now = this.now()
    this.tokens = Math.min(this.burst, this.tokens + (now - this.refilled) / this.refillMs)
    this.refilled = now
  }
}
