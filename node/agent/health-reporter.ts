/**
 * Sends the node's health to the tracker (`health-protocol.ts`): right after each welcome of
 * a tracker that takes it, then every `intervalMs`, and promptly (at most once per
 * `checkMs`) when something alarming changed since the last report: more writes refused for
 * want of room, more corrupt chunks found by the scrub, the disk's free space fallen under
 * the store's floor. Best effort: nothing is queued while disconnected (the report after
 * the next welcome is read afresh), and a report the channel cannot take now is not kept.
 */
import { logger } from '@libp2p/logger'
import { HEALTH_FEATURE, type NodeFrame, type NodeHealth } from './protocol.ts'

const log = logger('dandelion:node:agent:health')

/** What the reporter uses. */
export interface HealthReporterComponents {
  /** The node's health now; undefined when it has none to tell. */
  health(): NodeHealth | undefined
  /** Sends a frame on the channel; false when it was not sent (not connected, backed up). */
  send(frame: NodeFrame): boolean
}

/** Options of {@link HealthReporter}. */
export interface HealthReporterInit {
  /** Time between two reports while connected. */
  intervalMs: number
  /** How often the health is looked at for an alarming change, and the least time between two reports. */
  checkMs: number
}

/** Whether `now` is alarming next to `last` (the last report sent on this connection). */
export function alarming(last: NodeHealth, now: NodeHealth): boolean {
  if (now.store.refusedWrites > last.store.refusedWrites) return true
  if ((now.scrub?.totalCorruptFound ?? 0) > (last.scrub?.totalCorruptFound ?? 0)) return true
  if ((now.scrub?.readErrors ?? 0) > (last.scrub?.readErrors ?? 0)) return true
  return underFloor(now) && !underFloor(last)
}

/** Free disk under the store's floor. */
const underFloor = (h: NodeHealth): boolean =>
  h.disk !== undefined && h.disk.freeBytes !== null && h.disk.freeBytes < h.disk.minFreeBytes

/** See the module comment. One per agent; it follows the channel's current connection. */
export class HealthReporter {
  private readonly c: HealthReporterComponents
  private readonly init: HealthReporterInit
  private timer?: NodeJS.Timeout
  /** The last report sent on this connection, and when (this process's clock). */
  private last?: { health: NodeHealth; at: number }
  /** A report is due (the periodic one, or one the channel could not take). */
  private due = false
  private active = false

  constructor(components: HealthReporterComponents, init: HealthReporterInit) {
    this.c = components
    this.init = init
  }

  /**
   * A tracker welcomed the node; `features` as its welcome named them. Reports only to a
   * tracker that named {@link HEALTH_FEATURE}: an older one closes the connection on a
   * frame type it does not know.
   */
  welcomed(features: readonly string[] | undefined): void {
    this.stop()
    if (features?.includes(HEALTH_FEATURE) !== true) return
    this.active = true
    this.due = true
    this.tick()
    this.timer = setInterval(() => this.tick(), this.init.checkMs)
    this.timer.unref()
  }

  /** The connection closed, or the agent stops: nothing is sent, and nothing kept, until the next welcome. */
  stop(): void {
    this.active = false
    this.last = undefined
    clearInterval(this.timer)
    this.timer = undefined
  }

  private tick(): void {
    if (!this.active) return
    const now = Date.now()
    let health: NodeHealth | undefined
    try {
      health = this.c.health()
    } catch (err) {
      log.error('reading the node health failed: %e', err)
      return
    }
    if (health === undefined) return
    const last = this.last
    if (last !== undefined && now - last.at >= this.init.intervalMs) this.due = true
    if (!this.due && (last === undefined || !alarming(last.health, health))) return
    if (!this.c.send({ t: 'health', health })) {
      // not taken now: tried again at the next check, with what the node reads then
      this.due = true
      return
    }
    this.due = false
    this.last = { health, at: now }
  }
}
