/**
 * The per-node command outbox. A command gets the node's next sequence number and is
 * written (synced) before anything is acknowledged; it stays until the node reports a
 * final outcome, so a tracker restart can replay it and the node's dedup absorbs repeats.
 * What the readers keep of it (two counts) is in `outbox-counts.ts`.
 */
import { randomUUID } from 'node:crypto'
import type { Command, CommandFields, OutcomeStatus } from '../../node/agent/protocol.ts'
import { MAX_COMMAND_SEQ, MAX_LAST_SEQ_AHEAD, MAX_OUTBOX_PER_NODE } from '../constants.ts'
import { CapacityError, LastSeqOutOfRangeError } from '../errors.ts'
import type { Kv, Tx } from './kv.ts'

export { OutboxCounts } from './outbox-counts.ts'

/** A queued command and its delivery state. */
export interface OutboxEntry {
  nodeId: string
  cmd: Command
  /** `pending` until the node ACKs receipt. */
  state: 'pending' | 'acked'
  /** Last outcome reported (non-final ones such as `placed`). */
  outcome?: OutcomeStatus
  /** In memory only: sends so far on the current connection, and when the next is due. */
  attempts: number
  nextAt: number
  /**
   * In memory only: the command is on disk. The channel sends only durable commands: one
   * whose commit is still in flight may yet fail, and a node must never apply it.
   */
  durable: boolean
}

const key = (nodeId: string, seq: number): string => `ob!${nodeId}!${String(seq).padStart(12, '0')}`

/** Outcomes after which a command leaves the outbox. */
export const FINAL_OUTCOMES: ReadonlySet<OutcomeStatus> = new Set(['active', 'done', 'failed'])

/** Repository of node outboxes. */
export class Outbox {
  private readonly boxes = new Map<string, Map<number, OutboxEntry>>()
  private readonly nextSeq = new Map<string, number>()
  private readonly byId = new Map<string, OutboxEntry>()
  private readonly unacked = new Map<string, number>()

  async load(kv: Kv): Promise<void> {
    for (const prefix of ['seq!', 'ob!']) for await (const [k, v] of kv.entries(prefix)) this.apply(k, v)
  }

  /** Applies one stored write (`value` undefined: a delete), as loading the store does. */
  apply(k: string, value: unknown): void {
    if (k.startsWith('seq!')) {
      if (value === undefined) this.nextSeq.delete(k.slice(4))
      else this.nextSeq.set(k.slice(4), value as number)
      return
    }
    // ob!<node id>!<seq, 12 digits>
    const nodeId = k.slice(3, -13)
    const seq = Number(k.slice(-12))
    const old = this.boxes.get(nodeId)?.get(seq)
    if (old !== undefined) {
      this.byId.delete(old.cmd.id)
      if (old.state === 'pending') this.setUnacked(nodeId, -1)
    }
    // a replaced entry keeps its place in the box (Map.set), so the box stays in sequence order
    if (value !== undefined) this.index({ ...(value as OutboxEntry), attempts: 0, nextAt: 0, durable: true })
    else if (old !== undefined) this.unbox(nodeId, seq)
  }

  private unbox(nodeId: string, seq: number): void {
    const box = this.boxes.get(nodeId)
    box?.delete(seq)
    if (box?.size === 0) this.boxes.delete(nodeId)
  }

  private index(e: OutboxEntry): void {
    let box = this.boxes.get(e.nodeId)
    if (box === undefined) {
      box = new Map()
      this.boxes.set(e.nodeId, box)
    }
    box.set(e.cmd.seq, e)
    this.byId.set(e.cmd.id, e)
    if (e.state === 'pending') this.setUnacked(e.nodeId, 1)
  }

  /** Queues a command for a node with the node's next sequence number. */
  enqueue(tx: Tx, nodeId: string, fields: CommandFields): Command {
    const box = this.boxes.get(nodeId)
    if (box !== undefined && box.size >= MAX_OUTBOX_PER_NODE)
      throw new CapacityError(`outbox of ${nodeId} full`)
    const seq = this.nextSeq.get(nodeId) ?? 1
    if (seq > MAX_COMMAND_SEQ) throw new CapacityError(`sequence numbers of ${nodeId} exhausted`)
    this.nextSeq.set(nodeId, seq + 1)
    const cmd: Command = { ...fields, seq, id: randomUUID() }
    const entry: OutboxEntry = { nodeId, cmd, state: 'pending', attempts: 0, nextAt: 0, durable: false }
    this.index(entry)
    tx.onCommit(() => {
      entry.durable = true
    })
    tx.put(`seq!${nodeId}`, seq + 1)
    tx.put(key(nodeId, seq), this.persisted(entry))
    return cmd
  }

  /**
   * Throws the {@link CapacityError} {@link enqueue} would, changing nothing: for a caller
   * that must queue commands for many nodes all or nothing. `freeing` is a command of the
   * node it withdraws first ({@link cancel}), whose slot then counts as free.
   */
  checkRoom(nodeId: string, freeing?: string): void {
    const e = freeing === undefined ? undefined : this.byId.get(freeing)
    const freed = e !== undefined && e.nodeId === nodeId && e.state === 'pending' ? 1 : 0
    if ((this.boxes.get(nodeId)?.size ?? 0) - freed >= MAX_OUTBOX_PER_NODE)
      throw new CapacityError(`outbox of ${nodeId} full`)
    if ((this.nextSeq.get(nodeId) ?? 1) > MAX_COMMAND_SEQ)
      throw new CapacityError(`sequence numbers of ${nodeId} exhausted`)
  }

  private persisted(e: OutboxEntry): unknown {
    return { nodeId: e.nodeId, cmd: e.cmd, state: e.state, outcome: e.outcome }
  }

  /** Highest sequence number issued to a node so far (0: none). */
  issued(nodeId: string): number {
    return (this.nextSeq.get(nodeId) ?? 1) - 1
  }

  /**
   * Throws {@link LastSeqOutOfRangeError} unless a node's reported last sequence is one
   * this tracker can continue after. Saves nothing.
   */
  checkLastSeq(nodeId: string, lastSeq: number): void {
    // A reported last sequence MUST NOT run more than MAX_LAST_SEQ_AHEAD past what was
    // issued, nor past MAX_COMMAND_SEQ: continuing after an absurd claim (up to 2^53 - 1)
    // would push sequence numbers past what the node accepts.
    const max = Math.min(this.issued(nodeId) + MAX_LAST_SEQ_AHEAD, MAX_COMMAND_SEQ)
    if (!Number.isSafeInteger(lastSeq) || lastSeq < 0 || lastSeq > max)
      throw new LastSeqOutOfRangeError(nodeId, lastSeq, max)
  }

  /**
   * Keeps sequence numbers above what the node already holds: if the node reports a last
   * sequence this tracker never issued (its state was restored from an older backup), new
   * commands continue after it, so they are never mistaken for ones the node has. A claim
   * {@link checkLastSeq} refuses throws, and nothing is saved.
   */
  ensureAbove(tx: Tx, nodeId: string, lastSeq: number): void {
    this.checkLastSeq(nodeId, lastSeq)
    if ((this.nextSeq.get(nodeId) ?? 1) > lastSeq) return
    this.nextSeq.set(nodeId, lastSeq + 1)
    tx.put(`seq!${nodeId}`, lastSeq + 1)
  }

  /**
   * Entries of a node in sequence order (a box is filled in sequence order, by `enqueue`
   * and by `load` reading keys in order, so its insertion order is the sequence order).
   */
  entriesOf(nodeId: string): Iterable<OutboxEntry> {
    return this.boxes.get(nodeId)?.values() ?? []
  }

  /** Nodes that have at least one unACKed command (the retransmit loop walks only these). */
  nodesWithUnacked(): Iterable<string> {
    return this.unacked.keys()
  }

  private setUnacked(nodeId: string, delta: number): void {
    const n = (this.unacked.get(nodeId) ?? 0) + delta
    if (n <= 0) this.unacked.delete(nodeId)
    else this.unacked.set(nodeId, n)
  }

  byCommand(id: string): OutboxEntry | undefined {
    return this.byId.get(id)
  }

  /** Marks receipt; returns false if the ACK does not match a queued command of this node. */
  ack(tx: Tx, nodeId: string, seq: number, id: string): boolean {
    const e = this.boxes.get(nodeId)?.get(seq)
    if (e === undefined || e.cmd.id !== id) return false
    if (e.state === 'acked') return true
    e.state = 'acked'
    this.setUnacked(nodeId, -1)
    tx.put(key(nodeId, seq), this.persisted(e))
    return true
  }

  /** Records an outcome; a final one removes the command from the outbox. */
  outcome(tx: Tx, nodeId: string, id: string, status: OutcomeStatus): OutboxEntry | undefined {
    const e = this.byId.get(id)
    if (e === undefined || e.nodeId !== nodeId) return undefined
    if (e.state === 'pending') this.setUnacked(nodeId, -1)
    e.state = 'acked'
    e.outcome = status
    if (FINAL_OUTCOMES.has(status)) {
      this.unbox(nodeId, e.cmd.seq)
      this.byId.delete(id)
      tx.del(key(nodeId, e.cmd.seq))
    } else {
      tx.put(key(nodeId, e.cmd.seq), this.persisted(e))
    }
    return e
  }

  /**
   * Withdraws a command the node has not ACKed (e.g. a `place` of a release being rolled
   * back or aborted, queued for an offline node). The node may still have received it (its
   * ACK lost): whoever cancels must send a command that supersedes it, or be ready for the
   * node to hold it ({@link restore}). Returns false if it was ACKed.
   *
   * The gap it leaves in the node's sequence numbers is safe: the agent requires no
   * contiguous sequence (its `lastSeq` is the highest it received, it dedups by id and runs
   * what it receives in order), and numbers are never reused.
   */
  cancel(tx: Tx, nodeId: string, id: string): boolean {
    const e = this.byId.get(id)
    if (e === undefined || e.nodeId !== nodeId || e.state !== 'pending') return false
    this.setUnacked(nodeId, -1)
    this.unbox(nodeId, e.cmd.seq)
    this.byId.delete(id)
    tx.del(key(nodeId, e.cmd.seq))
    return true
  }

  /**
   * Puts back, as ACKed and under its own sequence number, a command {@link cancel} withdrew
   * that the node turns out to hold (its hello's `lastSeq` covers the sequence: a node
   * records a command before it ACKs it, so its ACK was lost). The replay sends it again and
   * the node answers from its journal, by id (ACK and the outcome it recorded), never
   * applying it twice: the one way the protocol has to ask a node what became of a command.
   * Returns false, changing nothing, if the command is queued already or the outbox is full.
   */
  restore(tx: Tx, nodeId: string, cmd: Command): boolean {
    if (this.byId.has(cmd.id)) return false
    const box = this.boxes.get(nodeId)
    if (box !== undefined && box.size >= MAX_OUTBOX_PER_NODE) return false
    const entry: OutboxEntry = { nodeId, cmd, state: 'acked', attempts: 0, nextAt: 0, durable: false }
    this.index(entry)
    // older than what was queued since: the box is walked in sequence order (the replay)
    const mine = this.boxes.get(nodeId)!
    if (mine.size > 1) this.boxes.set(nodeId, new Map([...mine].sort(([a], [b]) => a - b)))
    tx.onCommit(() => {
      entry.durable = true
    })
    tx.put(key(nodeId, cmd.seq), this.persisted(entry))
    return true
  }

  /**
   * Marks every ACKed command of a node unACKed again (its machine was replaced: the next
   * one has received none of them), so that they are retransmitted to it until it ACKs.
   * Outcomes already reported (`placed`) stay: the release's state says what became of them.
   * Returns the commands put back.
   */
  unacknowledge(tx: Tx, nodeId: string): OutboxEntry[] {
    const back: OutboxEntry[] = []
    for (const e of this.boxes.get(nodeId)?.values() ?? []) {
      if (e.state !== 'acked') continue
      e.state = 'pending'
      this.setUnacked(nodeId, 1)
      tx.put(key(nodeId, e.cmd.seq), this.persisted(e))
      back.push(e)
    }
    return back
  }

  /**
   * Drops every command queued for a node (it is being deleted): none is delivered,
   * retransmitted or kept on disk. Its sequence number stays: should the machine that held
   * the id enroll again, with its journal, new commands still come after what it holds.
   * Returns the ids of the commands dropped.
   */
  dropNode(tx: Tx, nodeId: string): Set<string> {
    const dropped = new Set<string>()
    for (const e of this.boxes.get(nodeId)?.values() ?? []) {
      dropped.add(e.cmd.id)
      this.byId.delete(e.cmd.id)
      tx.del(key(nodeId, e.cmd.seq))
    }
    this.boxes.delete(nodeId)
    this.unacked.delete(nodeId)
    return dropped
  }

  /** Number of queued commands, and how many of them are unACKed. */
  stats(): { queued: number; unacked: number } {
    let unacked = 0
    for (const n of this.unacked.values()) unacked += n
    return { queued: this.byId.size, unacked }
  }
}
