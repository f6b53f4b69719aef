/**
 * The latest health report of each node (`node/agent/health-protocol.ts`), kept in memory
 * only: it is ephemeral, and every node sends one again right after each welcome, so a
 * restarted tracker has them back as the nodes reconnect. One entry per node of the
 * inventory at most (a report from a node no longer in it is not kept); dropped when the
 * node is deleted, its machine unbound, or it reconnects with an agent that does not report.
 */
import type { NodeHealth } from '../../node/agent/protocol.ts'
import { MAX_NODES } from '../constants.ts'

/** A node's latest report, as the tracker keeps it. */
export interface HealthEntry {
  health: NodeHealth
  /** When the tracker received it (its own clock, epoch ms). */
  reportedAt: number
  /**
   * Writes its store refused since its previous report (since the node started, for the
   * first report the tracker has of it, or the first after the node restarted).
   */
  refusedSincePrevious: number
}

/** See the module comment. */
export class HealthBook {
  private readonly entries = new Map<string, HealthEntry>()
  private readonly maxEntries: number

  /** `maxEntries`: most nodes kept. @default MAX_NODES */
  constructor(init: { maxEntries?: number } = {}) {
    this.maxEntries = init.maxEntries ?? MAX_NODES
  }

  /** Keeps `health` as `nodeId`'s latest report, received `now`. False if not kept (the book is full). */
  record(nodeId: string, health: NodeHealth, now = Date.now()): boolean {
    const previous = this.entries.get(nodeId)
    if (previous === undefined && this.entries.size >= this.maxEntries) return false
    const before = previous?.health.store.refusedWrites ?? 0
    const refused = health.store.refusedWrites
    // a count lower than the last one: the node restarted, and counts from 0 again
    const refusedSincePrevious = refused >= before ? refused - before : refused
    this.entries.set(nodeId, { health, reportedAt: now, refusedSincePrevious })
    return true
  }

  /** `nodeId`'s latest report, if any since the tracker started. */
  get(nodeId: string): HealthEntry | undefined {
    return this.entries.get(nodeId)
  }

  /** Forgets `nodeId`'s reports. */
  forget(nodeId: string): void {
    this.entries.delete(nodeId)
  }

  /** Every node's latest report. */
  all(): IterableIterator<[string, HealthEntry]> {
    return this.entries.entries()
  }

  get size(): number {
    return this.entries.size
  }
}
