/**
 * Reconnecting a Node signaling client after its socket closed: which closes it retries after,
 * and the one loop that retries with exponential backoff until the server welcomes it back
 * (resuming with the client's session and last event sequence number, sent by its `connect`).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Logger } from '@libp2p/logger'
import { RECONNECT_INITIAL_MS, RECONNECT_MAX_MS } from '../constants.ts'

/** Live things a {@link Reconnector} uses. */
export interface ReconnectorComponents {
  /** One attempt: resolves once welcomed; rejects if refused, dropped first, or `signal` aborts. */
  connect(options: { signal?: AbortSignal }): Promise<void>
  logger: Logger
}

/** Options of a {@link Reconnector}. */
export interface ReconnectorInit {
  /** First reconnect delay; doubles after each failed attempt. @default {@link RECONNECT_INITIAL_MS} */
  reconnectInitialMs?: number
  /** @default {@link RECONNECT_MAX_MS} */
  reconnectMaxMs?: number
}

/** Runs at most one reconnect loop at a time. */
export class Reconnector {
  private readonly components: ReconnectorComponents
  private readonly init: ReconnectorInit
  /** Aborts the one running reconnect loop, if any. */
  private reconnecting: AbortController | undefined

  constructor(components: ReconnectorComponents, init: ReconnectorInit = {}) {
    this.components = components
    this.init = init
  }

  /**
   * The client's current socket closed with `code`. `resumable`: the client has a session to
   * resume, was not closed for good and may reconnect.
   */
  closed(code: number, resumable: boolean): void {
    // a refusal (4400 and up) will not change by retrying: stop any running loop too
    if (code >= 4400) this.stop()
    if (!resumable || code >= 4400) return
    // a failed attempt of the running loop closes its socket too: the loop itself retries
    if (this.reconnecting !== undefined) return
    const loop = new AbortController()
    this.reconnecting = loop
    this.reconnect(loop.signal)
      .catch((err) => {
        if (!loop.signal.aborted) this.components.logger.error('reconnect failed %e', err)
      })
      .finally(() => {
        if (this.reconnecting === loop) this.reconnecting = undefined
      })
  }

  /** Stops the running loop, if any (the client closes for good, or was refused). */
  stop(): void {
    this.reconnecting?.abort()
  }

  /** The one reconnect loop: attempts with exponential backoff until one is welcomed or `signal` aborts. */
  private async reconnect(signal: AbortSignal): Promise<void> {
    const max = this.init.reconnectMaxMs ?? RECONNECT_MAX_MS
    let delay = this.init.reconnectInitialMs ?? RECONNECT_INITIAL_MS
    for (;;) {
      await sleep(delay, undefined, { signal, ref: false })
      try {
        await this.components.connect({ signal })
        return
      } catch (err) {
        signal.throwIfAborted()
        this.components.logger('reconnect attempt failed %e', err)
      }
      delay = Math.min(delay * 2, max)
    }
  }
}
