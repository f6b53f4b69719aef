/**
 * A node's health as the admin API shows it (`GET /api/v1/nodes`, `/nodes/:id`): its latest
 * report, when the tracker received it, and why the node needs attention (`attention.ts`).
 */
import type { NodeHealth } from '../../node/agent/protocol.ts'
import { type AttentionReason, attentionReasons } from './attention.ts'
import type { HealthBook } from './book.ts'

/** A node's `health` in the admin API. */
export interface NodeHealthView extends NodeHealth {
  /** When the tracker received the report (its clock, epoch ms). */
  reportedAt: number
  /** Why the node needs attention; empty: it does not. */
  attention: AttentionReason[]
}

/** `nodeId`'s health for the API; undefined when it has not reported since the tracker started. */
export function healthView(
  book: HealthBook,
  nodeId: string,
  connected: boolean,
  now = Date.now(),
): NodeHealthView | undefined {
  const entry = book.get(nodeId)
  if (entry === undefined) return undefined
  return { ...entry.health, reportedAt: entry.reportedAt, attention: attentionReasons(entry, connected, now) }
}

/** Nodes (by id) needing attention for each reason, for the metrics: every reason, 0 included. */
export function attentionCounts(
  book: HealthBook,
  isConnected: (nodeId: string) => boolean,
  now = Date.now(),
): Map<AttentionReason, number> {
  const counts = new Map<AttentionReason, number>()
  for (const [nodeId, entry] of book.all())
    for (const r of attentionReasons(entry, isConnected(nodeId), now)) counts.set(r, (counts.get(r) ?? 0) + 1)
  return counts
}
