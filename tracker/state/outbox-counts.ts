/**
 * The outbox as the readers keep it: counts, not commands. The writers' outbox, which
 * holds the commands, is in `outbox.ts`.
 */
import type { Kv } from './kv.ts'
import type { OutboxEntry } from './outbox.ts'

/**
 * The readers' side of the outbox (`TrackerState.committed`): what readers show of it, the
 * number of queued and of unACKed commands (metrics), as the disk holds them. Not a second
 * copy of every command (5,000 at once while a release goes out): readers never list them.
 */
export class OutboxCounts {
  /** Whether each queued command (by its key) is unACKed. */
  private readonly pending = new Map<string, boolean>()
  private unacked = 0

  async load(kv: Kv): Promise<void> {
    for await (const [k, v] of kv.entries('ob!')) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(k: string, value: unknown): void {
    if (!k.startsWith('ob!')) return
    if (this.pending.get(k) === true) this.unacked--
    if (value === undefined) {
      this.pending.delete(k)
      return
    }
    const pending = (value as Pick<OutboxEntry, 'state'>).state === 'pending'
    this.pending.set(k, pending)
    if (pending) this.unacked++
  }

  /** Number of queued commands, and how many of them are unACKed. */
  stats(): { queued: number; unacked: number } {
    return { queued: this.pending.size, unacked: this.unacked }
  }
}
