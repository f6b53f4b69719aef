/**
 * Which tracker address the agent dials next, and when: the addresses in turn (failover),
 * with a backoff that doubles once every address has failed in a row, jittered.
 */
import type { AgentInit } from './index.ts'

/** Options of {@link TrackerFailover}, defaults applied (see `AgentInit`). */
export type TrackerFailoverInit = Required<
  Pick<AgentInit, 'trackers' | 'reconnectInitialMs' | 'reconnectMaxMs'>
>

/** See the module comment. */
export class TrackerFailover {
  private readonly init: TrackerFailoverInit
  private urlIndex = 0
  /** Connections that failed (or did not stay up) in a row. */
  private failures = 0

  constructor(init: TrackerFailoverInit) {
    this.init = init
  }

  /** The address to dial now. */
  get url(): string {
    return this.init.trackers[this.urlIndex % this.init.trackers.length]
  }

  /**
   * A connection closed: moves on to the next address and returns how long to wait before
   * dialing it (ms).
   * @param upForMs how long the connection was up after its welcome; undefined if it never was
   */
  closed(upForMs: number | undefined): number {
    // Only a connection that stayed up ends the backoff. Reset at the welcome, a tracker
    // that welcomed the node and dropped it at once (a frame the node refuses and the
    // tracker replays, a cloned key replacing the connection) had it back every
    // 100–300 ms for ever, and a campus of such nodes hammering the tracker.
    if (upForMs !== undefined && upForMs >= this.init.reconnectMaxMs) this.failures = 0
    // fail over: the next address, with backoff once every address has failed in a row
    this.failures++
    this.urlIndex++
    const round = Math.floor((this.failures - 1) / this.init.trackers.length)
    const delay = Math.min(this.init.reconnectInitialMs * 2 ** round, this.init.reconnectMaxMs)
    // jitter (50–150%): after a tracker restart thousands of nodes must not reconnect in one burst
    const jitter = 0.5 + Math.random()
    return delay * jitter
  }
}
