/**
 * What a welcomed node reports: on its commands (ACK, fetch progress, outcome), applied to its
 * outbox and handed to the rollout engine (a `scrub`'s, to the node's scrub record,
 * `state/scrubs.ts`); and its health, kept in memory (`health/book.ts`). A report on a command that is not the node's, or
 * no longer queued, changes nothing: the node may report on one the tracker dropped since
 * (withdrawn, cancelled, the node deleted and enrolled again).
 */
import type { NodeFrame } from '../../node/agent/protocol.ts'
import type { HealthBook } from '../health/book.ts'
import type { RolloutEngine } from '../rollout/engine.ts'
import type { TrackerState, Tx } from '../state/index.ts'
import type { ChannelStats } from './server-types.ts'

/** A node's report on one of its commands, or on its health. */
export type ReportFrame = Exclude<NodeFrame, { t: 'hello' }>

/** Components of {@link applyReport}. */
export interface ReportComponents {
  state: TrackerState
  engine: () => RolloutEngine
  /** Counts `acks` and `outcomes`. */
  stats: ChannelStats
  /** Where the nodes' latest health reports are kept. */
  health: HealthBook
}

/** Applies `f`, from `nodeId`, in `tx`. Returns whether it changed anything (`tx` is to be committed). */
export function applyReport(c: ReportComponents, tx: Tx, nodeId: string, f: ReportFrame): boolean {
  const { outbox } = c.state
  // in memory only, never written: every node reports again after each welcome. Only for a
  // node still in the inventory (one deleted meanwhile is not kept)
  if (f.t === 'health') {
    if (c.state.inventory.nodes.has(nodeId)) c.health.record(nodeId, f.health)
    return false
  }
  if (f.t === 'ack') {
    c.stats.acks++
    if (!outbox.ack(tx, nodeId, f.seq, f.id)) return false
    const { cmd } = outbox.byCommand(f.id)!
    if (cmd.op === 'scrub') c.state.scrubs.received(tx, nodeId, cmd.id)
    else c.engine().onAck(tx, nodeId, cmd)
    return true
  }
  if (f.t === 'outcome') c.stats.outcomes++
  const e = outbox.byCommand(f.id)
  if (e === undefined || e.nodeId !== nodeId) return false
  if (f.t === 'progress') {
    c.engine().onProgress(tx, nodeId, e.cmd, f)
    return true
  }
  if (e.cmd.op === 'scrub') {
    // `placed` and `active` are no outcomes of a scrub: only a final one is kept
    if (f.status === 'done' || f.status === 'failed')
      c.state.scrubs.ended(
        tx,
        nodeId,
        e.cmd.id,
        { status: f.status, reason: f.reason, found: f.scrub },
        Date.now(),
      )
  } else c.engine().onOutcome(tx, nodeId, e, f)
  outbox.outcome(tx, nodeId, f.id, f.status)
  return true
}
