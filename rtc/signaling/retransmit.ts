/**
 * Sends something again and again, with doubling delays, until it is ACKed or attempts run out.
 * Used for device controls on the server (towards the lamp) and on the client (towards the server).
 */
import { CapacityError } from '../errors.ts'

/** Options of {@link Retransmitter}. */
export interface RetransmitterInit {
  /** First retransmit delay. @default 1000 */
  retryMs?: number
  /** Sends before giving up, the first one included. @default 5 */
  maxAttempts?: number
  /** Keys pending at once; beyond this, `start` throws a {@link CapacityError}. @default 1024 */
  maxPending?: number
}

interface Pending {
  attempts: number
  timer: ReturnType<typeof setTimeout> | undefined
  send: (attempt: number) => void
  giveUp: () => void
}

/** Tracks un-ACKed messages by key. */
export class Retransmitter<K> {
  private readonly pending = new Map<K, Pending>()
  private readonly retryMs: number
  private readonly maxAttempts: number
  private readonly maxPending: number

  constructor(init: RetransmitterInit = {}) {
    this.retryMs = init.retryMs ?? 1000
    this.maxAttempts = init.maxAttempts ?? 5
    this.maxPending = init.maxPending ?? 1024
  }

  /** Whether `start` of a new key would throw: {@link RetransmitterInit.maxPending} keys are pending. */
  get full(): boolean {
    return this.pending.size >= this.maxPending
  }

  /**
   * Sends now and keeps retransmitting until {@link ack}; `giveUp` runs after the last attempt.
   * Throws {@link CapacityError}, having changed nothing, when {@link full}.
   */
  start(key: K, send: (attempt: number) => void, giveUp: () => void): void {
    if (this.pending.has(key)) return
    if (this.full) throw new CapacityError(`${this.maxPending} messages await an ACK`)
    const p: Pending = { attempts: 0, timer: undefined, send, giveUp }
    this.pending.set(key, p)
    this.fire(key, p)
  }

  private fire(key: K, p: Pending): void {
    p.attempts++
    try {
      p.send(p.attempts)
    } catch {
      // a failed send is retried like a lost one
    }
    if (p.attempts >= this.maxAttempts) {
      p.timer = setTimeout(
        () => {
          this.pending.delete(key)
          p.giveUp()
        },
        this.retryMs * 2 ** (p.attempts - 1),
      )
    } else {
      p.timer = setTimeout(() => this.fire(key, p), this.retryMs * 2 ** (p.attempts - 1))
    }
    p.timer.unref?.()
  }

  /** Sends every pending message again now (e.g. after a reconnect), keeping their schedules. */
  flush(): void {
    for (const p of this.pending.values()) {
      try {
        p.send(p.attempts)
      } catch {
        // retried on schedule
      }
    }
  }

  /** Marks `key` delivered. Returns false when it was not pending. */
  ack(key: K): boolean {
    const p = this.pending.get(key)
    if (p === undefined) return false
    clearTimeout(p.timer)
    this.pending.delete(key)
    return true
  }

  /** The send function of pending `key` (to send it again outside the schedule), if pending. */
  sender(key: K): (() => void) | undefined {
    const p = this.pending.get(key)
    return p === undefined ? undefined : () => p.send(p.attempts)
  }

  /** Whether `key` awaits an ACK. */
  has(key: K): boolean {
    return this.pending.has(key)
  }

  /** Stops everything without calling `giveUp`. */
  clear(): void {
    for (const p of this.pending.values()) clearTimeout(p.timer)
    this.pending.clear()
  }
}
