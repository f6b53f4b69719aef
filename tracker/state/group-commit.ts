/**
 * Writing the tracker's state: a {@link Tx} collects the writes of one logical change, and
 * the {@link GroupWriter} groups the changes committed in the same tick into one batch of a
 * {@link Kv} (group commit), ending an epoch when a batch fails. The store itself is in
 * `kv.ts`.
 */
import { logger } from '@libp2p/logger'
import { StateUnavailableError } from '../errors.ts'
import type { Kv, KvOp } from './kv.ts'

const log = logger('dandelion:tracker:state')

/**
 * Collects the writes of one logical change. The repositories it is used with change the
 * writers' memory as they go; `commit` makes the change durable, and only then is it
 * applied to what readers see (see `TrackerState.committed`). Concurrent commits are
 * grouped into one level batch (group commit) so 5,000 ACKs do not cost 5,000 fsyncs.
 *
 * There is no rollback of the writers' memory: if the commit fails, the tracker reloads
 * it from the disk (see {@link GroupWriter}).
 */
export class Tx {
  private list = new OpList()
  private readonly writer: GroupWriter
  /** The writer's epoch when the change was made: a change built on memory a failed write left behind is never written. */
  private readonly epoch: number
  private committed?: Array<() => void>
  constructor(writer: GroupWriter) {
    this.writer = writer
    this.epoch = writer.epoch
  }
  /** The writes of this change not yet handed to the writer by {@link commit}. */
  get ops(): readonly KvOp[] {
    return this.list.ops
  }
  /**
   * Writes `value` as it is now. Repositories change their objects in place after a change,
   * so the value is serialised at once (JSON: `undefined` fields dropped, as the store gives
   * it back); the text goes to the disk as it is and is parsed into the readers' copy once
   * on disk. Text, not a deep copy of the objects, while the batch waits for the disk: a
   * 5,000-node release queues ~15,000 of them, and a copy costs several times the text.
   * A key written twice in one change is written once, with its last value (creating a
   * release writes each node's state as waiting, then as pending as its first stage is
   * issued): the batch is atomic, so nothing could ever see the first.
   */
  put(key: string, value: unknown): void {
    this.list.set({ type: 'put', key, value: JSON.stringify(value) })
  }
  /**
   * {@link put} of an object the writers never change after this write (a change puts a
   * changed copy): readers share it rather than each holding a copy parsed from the text.
   * At 5,000 nodes a rollout writes each node's release state three times or more; the
   * readers' copies, and the garbage of the copies they replace, were a large part of the
   * tracker's heap.
   */
  putShared(key: string, value: object): void {
    this.list.set({ type: 'put', key, value: JSON.stringify(value), shared: value })
  }
  del(key: string): void {
    this.list.set({ type: 'del', key })
  }
  /** Runs `fn` once the commit succeeded (e.g. to send a queued command, to announce the change); never if it fails. */
  onCommit(fn: () => void): void {
    this.committed ??= []
    this.committed.push(fn)
  }
  /**
   * Persists the ops; with `sync` they are on disk when this resolves. Rejects with
   * {@link StateUnavailableError} if they could not be written.
   */
  async commit(options: { sync?: boolean } = {}): Promise<void> {
    const { ops } = this.list
    // handed over: the batch holds them now, not this change while it waits for the disk
    this.list = new OpList()
    await this.writer.write(ops, options.sync === true, this.epoch)
    for (const fn of this.committed?.splice(0) ?? []) fn()
  }
}

/** Below this many writes a key is looked up by a scan, not an index: most changes write 1–3 keys. */
const SCAN_MAX_OPS = 8

/**
 * Writes in order, of which only the last write of each key is kept, in the place of the
 * first: for one atomic batch, the same as writing them all.
 */
class OpList {
  readonly ops: KvOp[] = []
  private at?: Map<string, number>
  set(op: KvOp): void {
    const i = this.indexOf(op.key)
    if (i >= 0) {
      this.ops[i] = op
      return
    }
    this.at?.set(op.key, this.ops.length)
    this.ops.push(op)
  }
  private indexOf(key: string): number {
    if (this.at === undefined) {
      if (this.ops.length < SCAN_MAX_OPS) return this.ops.findIndex((op) => op.key === key)
      this.at = new Map(this.ops.map((op, i) => [op.key, i]))
    }
    return this.at.get(key) ?? -1
  }
}

/** What a {@link GroupWriter} reports to. */
export interface GroupWriterComponents {
  kv: Kv
  /** A batch is on disk: apply it to what readers see. Called before its writers resume. */
  onCommitted(ops: KvOp[]): void
  /** A batch failed: the writers' memory holds changes the disk does not. */
  onFailed(err: StateUnavailableError): void
}

interface Group {
  /** The writes of the group, a key written by several changes written once (the last). */
  ops: OpList
  sync: boolean
  epoch: number
  /** Settled once for every change in the group: they are written, or fail, together. */
  done: PromiseWithResolvers<void>
}

/**
 * Groups writes issued in the same tick into one batch, synced if any of them asks.
 *
 * A failed batch ends an epoch: its writes and every write made in that epoch and not yet
 * on disk (queued behind it, or committed later by a change made before the failure) are
 * refused with {@link StateUnavailableError}, since they may build on the failed change
 * (sequence numbers, a release being created). So the disk always holds a prefix of the
 * changes, and {@link GroupWriterComponents.onFailed} lets the owner reload the writers'
 * memory from it; writes of the next epoch go to the disk again.
 */
export class GroupWriter {
  private readonly components: GroupWriterComponents
  private pending: Group | undefined
  private chain: Promise<void> = Promise.resolve()
  private current = 0
  /** What ended the last epoch. */
  private ended?: StateUnavailableError
  private failed?: StateUnavailableError
  constructor(components: GroupWriterComponents) {
    this.components = components
  }
  /** Changes made now belong to this epoch. */
  get epoch(): number {
    return this.current
  }
  /** Set while the last batch written failed and none succeeded since. */
  get failure(): StateUnavailableError | undefined {
    return this.failed
  }
  write(ops: readonly KvOp[], sync: boolean, epoch: number): Promise<void> {
    if (epoch !== this.current) return Promise.reject(this.ended ?? new StateUnavailableError())
    if (ops.length === 0) return Promise.resolve()
    if (this.pending === undefined || this.pending.epoch !== epoch) {
      const group: Group = { ops: new OpList(), sync: false, epoch, done: Promise.withResolvers<void>() }
      this.pending = group
      // writes are serialised: a batch starts after the previous one is on disk
      this.chain = this.chain.then(() => this.run(group))
    }
    // The batch is atomic: of a key written by several changes of the group (a node's ACK
    // and its outcome, arriving while the previous batch is on its way to the disk) only
    // the last write needs to reach the disk and the readers.
    for (const op of ops) this.pending.ops.set(op)
    this.pending.sync ||= sync
    return this.pending.done.promise
  }
  private async run(group: Group): Promise<void> {
    if (this.pending === group) this.pending = undefined
    // queued behind a failed batch: it may build on its changes, and is never written
    if (group.epoch !== this.current) {
      group.done.reject(this.ended)
      return
    }
    const { ops } = group.ops
    try {
      await this.components.kv.batch(ops, { sync: group.sync })
    } catch (err) {
      const failure = new StateUnavailableError({ cause: err })
      this.current++
      this.ended = failure
      this.failed = failure
      this.report(() => this.components.onFailed(failure))
      group.done.reject(failure)
      return
    }
    this.failed = undefined
    this.report(() => this.components.onCommitted(ops))
    group.done.resolve()
  }
  /** The chain of batches must go on whatever a callback does. */
  private report(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      log.error('state writer callback threw: %e', err)
    }
  }
  /** Resolves when every write issued so far is done. */
  async flush(): Promise<void> {
    await this.chain
  }
}
