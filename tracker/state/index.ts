/**
 * The tracker's persistent state: repositories kept in memory over one {@link Kv}, changed
 * through {@link TrackerState.tx} and written through a group-committing level batch.
 * Load once at start.
 */
import { EventEmitter } from 'node:events'
import { logger } from '@libp2p/logger'
import { NodeInReleaseError, NotFoundError, StateUnavailableError } from '../errors.ts'
import type { AuditLog } from './audit.ts'
import type { Catalog } from './catalog.ts'
import type { EnrollmentTokens } from './enrollment-tokens.ts'
import { GroupWriter, Tx } from './group-commit.ts'
import type { Inventory, NodeRecord } from './inventory.ts'
import { type Kv, LevelKv, MemoryKv } from './kv.ts'
import type { OperatorTokens } from './operator-tokens.ts'
import type { Outbox, OutboxEntry } from './outbox.ts'
import type { Releases } from './releases.ts'
import { CommittedRepositories, loadBoth, Repositories, type RepositoriesInit } from './repositories.ts'
import type { Scrubs } from './scrubs.ts'

export type { AuditEntry, AuditLog } from './audit.ts'
export type { Catalog, VersionRecord, VersionStatus } from './catalog.ts'
export type { EnrollmentTokenRecord, EnrollmentTokens, EnrollmentTokenView } from './enrollment-tokens.ts'
export { Tx } from './group-commit.ts'
export type { Campus, City, Device, Inventory, NodeRecord } from './inventory.ts'
export { type Kv, LevelKv, MemoryKv } from './kv.ts'
export type {
  OperatorRole,
  OperatorTokenRecord,
  OperatorTokenState,
  OperatorTokens,
  OperatorTokenView,
} from './operator-tokens.ts'
export type { Outbox, OutboxEntry } from './outbox.ts'
export type { OutboxCounts } from './outbox-counts.ts'
export type {
  CompactedMembers,
  CurrentRef,
  NodeState,
  Release,
  ReleaseNode,
  ReleaseResult,
  ReleaseStatus,
  ReleaseSummary,
  Releases,
  SparseCounts,
  StageSpec,
  VersionRef,
} from './releases.ts'

import { NO_PROGRESS } from './release-types.ts'

export type { CommittedRepositories, Repositories, RepositoriesInit } from './repositories.ts'
export { type ScrubRecord, type ScrubState, type Scrubs, scrubOutstanding } from './scrubs.ts'

const log = logger('dandelion:tracker:state')

/** Events of {@link TrackerState}. */
export interface TrackerStateEvents {
  /** A write failed: the writers' memory is being reloaded from the disk. */
  failed: [StateUnavailableError]
  /** The writers' memory was reloaded after a failed write: changes are taken again. */
  reloaded: []
}

/** Release states in which a release still waits on a node. */
export const WAITING_ON_NODE: ReadonlySet<string> = new Set([
  'waiting',
  'pending',
  'fetching',
  'placed',
  'reverting',
])

/**
 * All repositories over one {@link Kv}, held twice:
 *
 * - the writers' ({@link inventory}, {@link catalog}, {@link releases}, {@link outbox}),
 *   changed by a change set as it is made, so that a change builds on the ones before it
 *   (sequence numbers, a release being created) while they are being written;
 * - the readers' ({@link committed}), to which a batch is applied only once it is on disk:
 *   the admin API shows only what a restart would load, never a change that may yet fail.
 *
 * A failed write refuses every change not yet on disk, reloads the writers' repositories
 * from the disk and goes on (see {@link failure}); readers meanwhile read on.
 */
export class TrackerState extends EventEmitter<TrackerStateEvents> {
  /**
   * What is on disk, for readers (the admin API, reports, metrics). Never change it: it
   * follows the writes that reached the disk.
   */
  readonly committed = new CommittedRepositories()
  private work: Repositories
  private readonly init: RepositoriesInit
  private readonly kv: Kv
  private readonly writer: GroupWriter
  private reloading?: Promise<void>
  /** The writers' memory could not be reloaded: no change is taken until a restart. */
  private broken?: StateUnavailableError

  /** State in `dir` (level), or in memory when `dir` is undefined. */
  constructor(dir?: string, init: RepositoriesInit = {}) {
    super()
    this.init = { ...init }
    this.work = new Repositories(this.init)
    this.kv = dir === undefined ? new MemoryKv() : new LevelKv(dir)
    this.writer = new GroupWriter({
      kv: this.kv,
      onCommitted: (ops) => this.committed.apply(ops),
      onFailed: (err) => this.onFailed(err),
    })
  }

  /** The writers' inventory (see the class comment). */
  get inventory(): Inventory {
    return this.work.inventory
  }
  /** The writers' enrollment tokens (issued through the API; the shared one is the config's). */
  get enrollmentTokens(): EnrollmentTokens {
    return this.work.enrollmentTokens
  }
  /** The writers' operator tokens (the admin API's credentials of each operator, beside the config's). */
  get operatorTokens(): OperatorTokens {
    return this.work.operatorTokens
  }
  /** The writers' audit trail of the admin API. */
  get audit(): AuditLog {
    return this.work.audit
  }
  /** The writers' catalog. */
  get catalog(): Catalog {
    return this.work.catalog
  }
  /** The writers' releases. */
  get releases(): Releases {
    return this.work.releases
  }
  /** The writers' outbox. */
  get outbox(): Outbox {
    return this.work.outbox
  }
  /** The writers' record of each node's last scrub asked through the admin API. */
  get scrubs(): Scrubs {
    return this.work.scrubs
  }

  async open(): Promise<void> {
    await this.kv.open()
    await loadBoth(this.kv, this.work, this.committed)
  }

  /**
   * Every stored entry (key, JSON text) as of one moment: each change is wholly in it or
   * wholly out of it, whatever is written meanwhile (`backup.ts`).
   */
  snapshot(): AsyncIterable<[string, string]> {
    return this.kv.snapshot()
  }

  async close(): Promise<void> {
    await this.writer.flush()
    await this.reloading
    await this.kv.close()
  }

  /**
   * Set while state writes fail: from a failed write until one succeeds (or for good, if
   * the state could not be reloaded after it). `/health` answers 503 meanwhile, so
   * monitoring sees a failing disk; reads go on, and changes are tried again.
   */
  get failure(): StateUnavailableError | undefined {
    return this.broken ?? this.writer.failure
  }

  /** False while no change can be made: the writers' memory is being reloaded (or could not be). */
  get available(): boolean {
    return this.reloading === undefined && this.broken === undefined
  }

  /** Throws {@link StateUnavailableError} while {@link available} is false. */
  assertAvailable(): void {
    if (this.broken !== undefined) throw this.broken
    if (this.reloading !== undefined)
      throw new StateUnavailableError({ cause: this.writer.failure?.cause, reloading: true })
  }

  /** A new change set; throws {@link StateUnavailableError} while {@link available} is false. */
  tx(): Tx {
    this.assertAvailable()
    return new Tx(this.writer)
  }

  /**
   * Deletes a node in `tx`, and with it every command queued for it: nothing of it is
   * delivered, retransmitted or kept on disk, and a release whose command to it is dropped
   * shows the node failed ('node deleted'). Refused with {@link NodeInReleaseError} while a
   * running or paused release still waits on it: it would stay pending there for good, and
   * with the default success ratio that release would never complete.
   */
  deleteNode(tx: Tx, id: string): void {
    if (!this.inventory.nodes.has(id)) throw new NotFoundError(`node ${id}`)
    const live = [...this.releases.releases.values()].filter((r) => {
      if (r.status !== 'running' && r.status !== 'paused') return false
      const rn = this.releases.nodesOf(r.id).get(id)
      return rn !== undefined && WAITING_ON_NODE.has(rn.state)
    })
    if (live.length > 0)
      throw new NodeInReleaseError(
        id,
        live.map((r) => r.id),
      )
    this.inventory.delete(tx, 'node', id)
    this.releases.nodeDeleted(tx, id, this.outbox.dropNode(tx, id))
    this.scrubs.drop(tx, id)
  }

  /**
   * Releases node `id`'s PeerId binding in `tx`, for a machine that replaces it: campus,
   * labels, enrollment time and its states in releases stay. What the tracker recorded it
   * running is forgotten (the replacement's disk holds nothing the tracker knows of, so
   * reconciliation sends it what it should run, `rollout/reconcile.ts`), and its queued
   * commands stay, unACKed again: the replay at the next machine's hello sends them, signed
   * for its key, and they are retransmitted until that machine ACKs them. A release's state
   * of the node whose `place` is put back so, ACKed with no outcome yet (`fetching`), is
   * `pending` again ({@link unstart}). Returns the node, the PeerId released and the release
   * states put back to `pending` (`reset`); none (nothing written) if it was not bound.
   * Throws {@link NotFoundError} for an unknown node.
   */
  unbindNode(
    tx: Tx,
    id: string,
  ): { node: NodeRecord; peerId?: string; reset: Array<{ releaseId: string; nodeId: string }> } {
    const out = this.inventory.unbind(tx, id)
    if (out.peerId === undefined) return { ...out, reset: [] }
    for (const resource of this.releases.resourcesRun())
      if (this.releases.currentOf(id, resource) !== undefined)
        this.releases.setCurrent(tx, id, resource, undefined)
    const reset = this.unstart(tx, id, this.outbox.unacknowledge(tx, id))
    return { ...out, reset }
  }

  /**
   * Node `id`'s commands `back` are unACKed again: where one is a release's `place` the node
   * ACKed and reported no outcome of (`fetching`), its state there goes back to what it was
   * before the ACK, `pending`, with no `ackedAt` and no progress. Its outcome deadline
   * (`rollout/deadlines.ts`, from `ackedAt`) then starts at the next machine's ACK, not the
   * old one's, and the status no longer shows it fetching while no machine is. A state the
   * command's outcome set (`placed`, or `failed` by its deadline: a late outcome is still
   * recorded) stays. A deadline timer armed for the old ACK finds nothing due and is harmless.
   */
  private unstart(tx: Tx, id: string, back: OutboxEntry[]): Array<{ releaseId: string; nodeId: string }> {
    const reset: Array<{ releaseId: string; nodeId: string }> = []
    for (const e of back) {
      const releaseId = e.cmd.releaseId
      if (e.cmd.op !== 'place' || releaseId === undefined || e.outcome !== undefined) continue
      const rn = this.releases.nodes.get(releaseId)?.get(id)
      if (rn?.cmdId !== e.cmd.id || rn.state !== 'fetching' || rn.deletedAt !== undefined) continue
      // a changed copy, never a change in place: the readers share the written object
      const { ackedAt: _, ...kept } = rn
      this.releases.putNode(tx, releaseId, {
        ...kept,
        state: 'pending',
        ...NO_PROGRESS,
      })
      reset.push({ releaseId, nodeId: id })
    }
    return reset
  }

  /**
   * Called by the writer as a batch fails, before its writers hear of it: from now on no
   * change is taken until the writers' memory, which holds the failed change and maybe
   * others built on it, is replaced by what is on disk.
   */
  private onFailed(err: StateUnavailableError): void {
    log.error('writing the state failed, reloading it from disk: %e', err)
    this.emitSafe('failed', err)
    this.reloading ??= this.reload().then(() => {
      this.reloading = undefined
      if (this.broken === undefined) this.emitSafe('reloaded')
    })
  }

  private async reload(): Promise<void> {
    // every write of the failed epoch is refused; none of the next starts before this ends
    await this.writer.flush()
    const work = new Repositories(this.init)
    try {
      await work.load(this.kv)
    } catch (err) {
      this.broken = new StateUnavailableError({ cause: err })
      log.error('reloading the state failed, a restart is needed: %e', err)
      return
    }
    this.work = work
    log('state reloaded from disk')
  }

  /** A listener that throws must not break the writer. */
  private emitSafe(...args: ['failed', StateUnavailableError] | ['reloaded']): void {
    try {
      if (args[0] === 'failed') this.emit('failed', args[1])
      else this.emit('reloaded')
    } catch (err) {
      log.error('%s listener threw: %e', args[0], err)
    }
  }
}
