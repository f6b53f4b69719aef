/**
 * Scrubs asked of nodes through the admin API: per node, the last `scrub` command queued for
 * it and what became of it (queued, received, done with what the pass found, failed with
 * why). One record per node, replaced by the next request and deleted with the node: the
 * state holds at most one per node of the inventory. The command itself travels through
 * the outbox like any (retransmitted, replayed after a reconnect or a restart, deduped by
 * the node); this is what the operator reads back.
 */
import type { ScrubFindings } from '../../node/agent/protocol.ts'
import type { Kv, Tx } from './kv.ts'

/** Where a scrub asked of a node is. */
export type ScrubState = 'queued' | 'received' | 'done' | 'failed'

/** The last scrub asked of a node, and its outcome. */
export interface ScrubRecord {
  nodeId: string
  /** The `scrub` command's id (its outbox entry's while it is there). */
  cmdId: string
  requestedAt: number
  /** Who asked, as the audit trail names them. */
  requestedBy: string
  /** `queued`: not yet ACKed; `received`: the node has it (a pass runs or waits); then final. */
  state: ScrubState
  /** The node's reason: what the pass found, in words, or why it failed. */
  reason?: string
  /** `done`: what the pass found. */
  found?: ScrubFindings
  /** When the node reported it done or failed. */
  endedAt?: number
}

const PREFIX = 'scrub!'

/** Whether a scrub in state `s` may still end (a new request joins it instead of queueing another). */
export const scrubOutstanding = (s: ScrubState): boolean => s === 'queued' || s === 'received'

/** Repository of the nodes' last scrubs (see the module comment). */
export class Scrubs {
  private readonly records = new Map<string, ScrubRecord>()
  private readonly byCmd = new Map<string, string>()

  async load(kv: Kv): Promise<void> {
    for await (const [k, v] of kv.entries(PREFIX)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(k: string, value: unknown): void {
    const nodeId = k.slice(PREFIX.length)
    const old = this.records.get(nodeId)
    if (old !== undefined) this.byCmd.delete(old.cmdId)
    if (value === undefined) {
      this.records.delete(nodeId)
      return
    }
    const r = value as ScrubRecord
    this.records.set(nodeId, r)
    this.byCmd.set(r.cmdId, nodeId)
  }

  get(nodeId: string): ScrubRecord | undefined {
    return this.records.get(nodeId)
  }

  /** Every node's last scrub, by node id. */
  values(): Iterable<ScrubRecord> {
    return this.records.values()
  }

  /** Records that `cmdId`, a scrub of `nodeId`, was queued by `requestedBy`. */
  request(tx: Tx, nodeId: string, cmdId: string, requestedBy: string, now: number): ScrubRecord {
    return this.put(tx, { nodeId, cmdId, requestedAt: now, requestedBy, state: 'queued' })
  }

  /** The node ACKed scrub `cmdId`; false if it is not a node's last scrub. */
  received(tx: Tx, nodeId: string, cmdId: string): boolean {
    const r = this.mine(nodeId, cmdId)
    if (r === undefined || r.state !== 'queued') return false
    this.put(tx, { ...r, state: 'received' })
    return true
  }

  /** The node reported scrub `cmdId` done or failed; false if it is not a node's last scrub. */
  ended(
    tx: Tx,
    nodeId: string,
    cmdId: string,
    o: { status: 'done' | 'failed'; reason?: string; found?: ScrubFindings },
    now: number,
  ): boolean {
    const r = this.mine(nodeId, cmdId)
    if (r === undefined) return false
    const next: ScrubRecord = { ...r, state: o.status, endedAt: now }
    if (o.reason !== undefined) next.reason = o.reason
    // only the three counts, whatever else the frame held
    if (o.status === 'done' && o.found !== undefined)
      next.found = {
        chunksChecked: o.found.chunksChecked,
        corruptFound: o.found.corruptFound,
        readErrors: o.found.readErrors,
      }
    this.put(tx, next)
    return true
  }

  /** Forgets a node's record (the node is deleted). */
  drop(tx: Tx, nodeId: string): void {
    if (this.records.has(nodeId)) tx.del(`${PREFIX}${nodeId}`)
    this.apply(`${PREFIX}${nodeId}`, undefined)
  }

  private mine(nodeId: string, cmdId: string): ScrubRecord | undefined {
    return this.byCmd.get(cmdId) === nodeId ? this.records.get(nodeId) : undefined
  }

  /** A new record, never a change in place: the readers may share what was written. */
  private put(tx: Tx, r: ScrubRecord): ScrubRecord {
    this.apply(`${PREFIX}${r.nodeId}`, r)
    tx.put(`${PREFIX}${r.nodeId}`, r)
    return r
  }
}
