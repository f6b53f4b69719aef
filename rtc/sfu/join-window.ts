/**
 * A window of subscriber connections being set up at once. Hundreds of simultaneous ICE + DTLS
 * handshakes on two cores starve each other into timeouts; a bounded window finishes them all
 * sooner. Later joins wait in arrival order.
 */
import { MAX_CONCURRENT_JOINS } from '../constants.ts'
import { AbortError } from '../errors.ts'

/** Options of {@link JoinWindow}. */
export interface JoinWindowInit {
  /** Joins set up at once. @default {@link MAX_CONCURRENT_JOINS} */
  maxConcurrentJoins?: number
}

/** Join slots: at most `maxConcurrentJoins` held at once, the rest queued. */
export class JoinWindow {
  private readonly max: number
  private joining = 0
  /**
   * Joins waiting for a slot, woken in order. Not capped here: each entry is one subscriber of a
   * room, and rooms and their members are bounded where they are admitted.
   */
  private readonly queue: Array<() => void> = []

  constructor(init: JoinWindowInit = {}) {
    this.max = init.maxConcurrentJoins ?? MAX_CONCURRENT_JOINS
  }

  /**
   * Waits for a slot; resolves with its (idempotent) release. Aborting `options.signal` while
   * queued leaves the queue and rejects with {@link AbortError}.
   */
  async acquire(options: { signal?: AbortSignal } = {}): Promise<() => void> {
    const { signal } = options
    if (this.joining >= this.max) {
      await new Promise<void>((resolve, reject) => {
        const wake = (): void => {
          signal?.removeEventListener('abort', onAbort)
          resolve()
        }
        const onAbort = (): void => {
          const i = this.queue.indexOf(wake)
          if (i >= 0) this.queue.splice(i, 1)
          reject(new AbortError('subscribe aborted', { cause: signal?.reason }))
        }
        this.queue.push(wake)
        signal?.addEventListener('abort', onAbort, { once: true })
      })
    }
    this.joining++
    let released = false
    return () => {
      if (released) return
      released = true
      this.joining--
      this.queue.shift()?.()
    }
  }

  /** Wakes every queued join at once (its owner is closing: each gives its slot back). */
  wakeAll(): void {
    for (const wake of this.queue.splice(0)) wake()
  }
}
