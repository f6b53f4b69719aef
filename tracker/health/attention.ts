/**
 * When a node needs attention, from its latest health report: the rules, in one place, that
 * `GET /api/v1/nodes?attention=true`, each node's `health.attention`, `dandelion nodes list
 * --attention` and the `dandelion_tracker_nodes_attention{reason}` gauges all read.
 *
 * - `disk-low`: the free space on the store's disk is under the floor the node keeps
 *   (`minFreeDiskBytes`): it refuses new content past it, and the disk is shared.
 * - `store-refusing`: the store refused writes for want of room between the node's last two
 *   reports (for the first report the tracker has of it since either started: at all since
 *   the node started). Cleared by a report that shows no new refusal.
 * - `scrub-corrupt`: the node's scrub (its pass that runs, or its last one) found chunks the
 *   disk had changed: they were fetched again, but the disk is suspect. Cleared by a pass
 *   that finds none.
 * - `disk-unreadable`: the node's scrub (its pass that runs, or its last one) could not read
 *   chunks at all (I/O errors): the disk is failing. Cleared by a pass that reads everything.
 * - `origin-failing`: the origin fallback failed {@link ORIGIN_FAILING_AFTER} or more times
 *   in a row (and has not succeeded since).
 * - `report-overdue`: the node is connected but its last report is older than twice the
 *   report interval ({@link HEALTH_INTERVAL_MS}): its agent is stuck, or its clock of reports is.
 *
 * A node that never reported since the tracker started (an older agent, or not yet) has no
 * health and needs no attention by these rules; an offline node keeps its last report
 * (`dandelion nodes list --offline` is for those).
 */
import { HEALTH_INTERVAL_MS } from '../../node/agent/protocol.ts'
import type { HealthEntry } from './book.ts'

/** Why a node needs attention. */
export type AttentionReason =
  | 'disk-low'
  | 'store-refusing'
  | 'scrub-corrupt'
  | 'disk-unreadable'
  | 'origin-failing'
  | 'report-overdue'

/** Every reason, in the order they are listed. */
export const ATTENTION_REASONS: readonly AttentionReason[] = [
  'disk-low',
  'store-refusing',
  'scrub-corrupt',
  'disk-unreadable',
  'origin-failing',
  'report-overdue',
]

/** Failed origin requests in a row from which a node's origin fallback counts as failing. */
export const ORIGIN_FAILING_AFTER = 5

/** A report from a connected node older than this is overdue. */
export const REPORT_OVERDUE_MS = 2 * HEALTH_INTERVAL_MS

/** The reasons `entry`, a node's latest report, gives; `connected`: its channel is open now. */
export function attentionReasons(
  entry: HealthEntry,
  connected: boolean,
  now = Date.now(),
  overdueMs = REPORT_OVERDUE_MS,
): AttentionReason[] {
  const h = entry.health
  const out: AttentionReason[] = []
  if (h.disk !== undefined && h.disk.freeBytes !== null && h.disk.freeBytes < h.disk.minFreeBytes)
    out.push('disk-low')
  if (entry.refusedSincePrevious > 0) out.push('store-refusing')
  if ((h.scrub?.corruptFound ?? 0) > 0) out.push('scrub-corrupt')
  if ((h.scrub?.readErrors ?? 0) > 0) out.push('disk-unreadable')
  if ((h.origin?.consecutiveFailures ?? 0) >= ORIGIN_FAILING_AFTER) out.push('origin-failing')
  if (connected && now - entry.reportedAt > overdueMs) out.push('report-overdue')
  return out
}
