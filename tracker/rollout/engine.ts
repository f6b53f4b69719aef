/**
 * The rollout engine: creates releases, issues each stage's commands into the outbox,
 * follows node outcomes (and their deadlines, `deadlines.ts`) through the gates, and runs
 * the operator operations (pause, resume, advance, abort, rollback). Every change is
 * committed (synced) before the commands it created are sent, before it is announced and
 * before the caller is answered.
 *
 * This class schedules, commits, announces and delivers; what each step writes is beside
 * it: stage issuing and gates in `stages.ts` (evaluated in batches by `settle.ts`), node
 * reports in `outcomes.ts`, operator operations in `operations.ts`, rollback in
 * `revert.ts`, late members' catch-up retries in `catch-up.ts` (their timer in
 * `catch-up-sweep.ts`), creates under an `Idempotency-Key` in `idempotency.ts`, public
 * types in `engine-types.ts`.
 */
import { EventEmitter } from 'node:events'
import { logger } from '@libp2p/logger'
import type { Command } from '../../node/agent/protocol.ts'
import { OUTCOME_SWEEP_MIN_INTERVAL_MS } from '../constants.ts'
import { StageMismatchError } from '../errors.ts'
import type { OutboxEntry, Release, TrackerState, Tx } from '../state/index.ts'
import { OUTCOME_TIMEOUT } from '../state/releases.ts'
import { type CatchUpRetry, retryCatchUps } from './catch-up.ts'
import { CatchUpSweep } from './catch-up-sweep.ts'
import { DeadlineTimer, failOverdue } from './deadlines.ts'
import { desiredVersions } from './desired-versions.ts'
import type {
  CreateReleaseInput,
  OperateOptions,
  ReleaseEvent,
  ReleaseOperation,
  RolloutEngineComponents,
  RolloutEngineInit,
} from './engine-types.ts'
import { IdempotentCreates } from './idempotency.ts'
import { applyOperation, type OperationComponents } from './operations.ts'
import {
  type NodeOutcome,
  type NodeProgress,
  type OutcomeComponents,
  recordAck,
  recordOutcome,
  recordProgress,
} from './outcomes.ts'
import { planRelease } from './plan.ts'
import { reconcileNode } from './reconcile.ts'
import { GateSettler } from './settle.ts'
import { writeRelease } from './stages.ts'
import { recoverWithdrawn } from './withdraw.ts'

export type {
  Announce,
  CreateReleaseInput,
  OperateOptions,
  ReleaseEvent,
  ReleaseOperation,
  RolloutEngineComponents,
  RolloutEngineInit,
} from './engine-types.ts'

const log = logger('dandelion:tracker:rollout')

/** See the module comment. */
export class RolloutEngine extends EventEmitter<{ event: [ReleaseEvent] }> {
  private readonly state: TrackerState
  private readonly deliver: (nodeId: string) => void
  /** Evaluates the gates of releases that had outcomes, batched (`settle.ts`). */
  private readonly gates: GateSettler
  private stopped = false
  /** Creates under an `Idempotency-Key`: replays, refusals, the ones being committed (`idempotency.ts`). */
  private readonly idempotent = new IdempotentCreates()
  /** Fires at the earliest outcome deadline (see `deadlines.ts`). */
  private readonly deadlines = new DeadlineTimer(() => {
    this.expireOutcomes().catch((err) => log.error('applying outcome deadlines failed: %e', err))
  })
  /** Sends late members' catch-up retries as they fall due (`catch-up-sweep.ts`). */
  private readonly retries: CatchUpSweep
  /** Nodes ACKed before `ackedAt` was recorded count their deadline from here. */
  private readonly startedAt = Date.now()
  private readonly outcomes: OutcomeComponents & { retry: CatchUpRetry }
  private readonly operations: OperationComponents
  private readonly isConnected: (nodeId: string) => boolean

  constructor(components: RolloutEngineComponents, init: RolloutEngineInit = {}) {
    super()
    this.state = components.state
    this.deliver = components.deliver
    const announce = (tx: Tx, e: Omit<ReleaseEvent, 'at'>): void => this.announce(tx, e)
    const isConnected = components.isConnected ?? (() => false)
    this.isConnected = (nodeId) => isConnected(nodeId)
    this.retries = new CatchUpSweep(
      { state: this.state, announce, deliver: this.deliver, isConnected: this.isConnected },
      { initialMs: init.catchUpRetryInitialMs, maxMs: init.catchUpRetryMaxMs },
    )
    this.outcomes = { state: this.state, deadlines: this.deadlines, announce, retry: this.retries.retry }
    this.gates = new GateSettler({
      state: this.state,
      announce,
      deliver: this.deliver,
      emitEvent: (e) => this.emitEvent(e),
    })
    this.operations = {
      state: this.state,
      announce,
      onBlocked: (id, err) => this.gates.onBlocked(id, err),
      isConnected: (nodeId) => isConnected(nodeId),
    }
    // a failed write lost the gate evaluations of its epoch, and the outcomes they followed
    // from may be on disk: evaluate every running release again, as at start
    this.state.on('reloaded', () => {
      this.start().catch((err) => log.error('evaluating releases after a reload failed: %e', err))
    })
  }

  /**
   * Announces a change once `tx` is on disk, never before and never if its commit fails:
   * what dashboards are told is what the admin API shows and a restart loads.
   */
  announce(tx: Tx, e: Omit<ReleaseEvent, 'at'>): void {
    tx.onCommit(() => this.emitEvent(e))
  }

  private emitEvent(e: Omit<ReleaseEvent, 'at'>): void {
    if (this.listenerCount('event') === 0) return
    try {
      this.emit('event', { ...e, at: Date.now() } as ReleaseEvent)
    } catch (err) {
      log.error('event listener threw: %e', err)
    }
  }

  /**
   * Creates a release and issues its first stage. If the first stage cannot be issued (a
   * node of it has a full outbox) nothing is created and the `ERR_CAPACITY` error is
   * thrown, as `advance` answers it: the operator asked for commands to go out now and is
   * told they cannot, rather than handed a release that silently has none.
   */
  async create(input: CreateReleaseInput, idempotency?: Release['idempotency']): Promise<Release> {
    const plan = planRelease(this.state, input)
    const { release, order } = plan
    if (idempotency !== undefined) release.idempotency = idempotency
    const id = release.id
    const tx = this.state.tx()
    const touched = writeRelease(this.state, tx, plan)
    // a failed commit rejects with StateUnavailableError: nothing is delivered or announced,
    // and the writers' memory, which holds the release, is reloaded from disk
    await tx.commit({ sync: true })
    this.emitEvent({ type: 'release.created', releaseId: id, total: order.length })
    this.emitEvent({ type: 'release.stage', releaseId: id, stage: 0 })
    for (const n of touched) this.deliver(n)
    return release
  }

  /**
   * {@link create} under an `Idempotency-Key`: the first request with `key` creates the
   * release; the same request again (same fingerprint) answers with that release instead
   * of starting another rollout, after a restart too (the key is stored with the release).
   * The key with a different request is refused (`ERR_IDEMPOTENCY_KEY_REUSED`, 422), and
   * while the first is still being committed a retry is told to retry (409). A create
   * that failed keeps nothing, so its retry runs afresh.
   */
  async createIdempotent(
    key: string,
    input: CreateReleaseInput,
  ): Promise<{ release: Release; replayed: boolean }> {
    return this.idempotent.run(this.state.releases, key, input, (i, k) => this.create(i, k))
  }

  /**
   * Queues in `tx` what `nodeId` lacks of what its campus runs, as late members of the
   * releases that say so (`reconcile.ts`); returns the nodes given commands, to be
   * delivered once `tx` is committed. The channel calls it at every hello, the admin API
   * when a node is changed (moved to another campus, given labels).
   */
  reconcile(tx: Tx, nodeId: string): string[] {
    // first the catch-up retries it waits for (`catch-up.ts`): one due is sent now if the node
    // is connected (its hello: at once, however long it was away), one no longer wanted is
    // dropped before reconciliation joins it to the release that replaced it
    // (what the node should run is looked up once for both: neither changes it)
    const now = Date.now()
    const send = this.isConnected(nodeId)
    const desired = desiredVersions(this.state, nodeId)
    const retried = retryCatchUps(this.outcomes, tx, nodeId, { now, send, rearm: true, desired })
    const joined = reconcileNode(this.outcomes, tx, nodeId, undefined, desired)
    this.retries.armNode(nodeId, now, send)
    return retried || joined.length > 0 ? [nodeId] : []
  }

  /**
   * A node says hello holding every sequence up to `lastSeq`: the commands an abort withdrew
   * from it that it turns out to hold (their ACK was lost) are put back in `tx`, ACKed, for
   * the replay to ask it what it did (`withdraw.ts`). The channel calls it at every hello,
   * before the replay.
   */
  onHello(tx: Tx, nodeId: string, lastSeq: number): void {
    const n = recoverWithdrawn(this.outcomes, tx, nodeId, lastSeq)
    if (n > 0) log('%s holds %d command(s) withdrawn from it: asking it what it did', nodeId, n)
  }

  /** The node ACKed receipt of a command. */
  onAck(tx: Tx, nodeId: string, cmd: Command): void {
    recordAck(this.outcomes, tx, nodeId, cmd)
  }

  /** Progress of a fetch. Kept in memory and written without sync: it is advisory. */
  onProgress(tx: Tx, nodeId: string, cmd: Command, p: NodeProgress): void {
    recordProgress(this.outcomes, tx, nodeId, cmd, p)
  }

  /**
   * A node reported an outcome. The release's gate is evaluated once per event-loop turn
   * for all outcomes that arrived in it (evaluation walks every node of the release, so
   * doing it per outcome would be quadratic in the number of nodes).
   */
  onOutcome(tx: Tx, nodeId: string, entry: OutboxEntry, o: NodeOutcome): void {
    const releaseId = recordOutcome(this.outcomes, tx, nodeId, entry.cmd, o)
    if (releaseId === undefined) {
      // a node working through its outbox frees the room a blocked release waits for
      if (this.gates.anyBlocked) this.gates.schedule()
      return
    }
    this.gates.mark(releaseId)
    this.gates.schedule()
  }

  /**
   * Fails every node whose outcome deadline passed (reason `timeout`), in one synced
   * commit, and evaluates their releases' gates again: a gate counts them as failed.
   * Schedules the next sweep at the earliest deadline still ahead.
   */
  private async expireOutcomes(): Promise<void> {
    // while the state is reloaded nothing is changed; the reload runs `start`, which sweeps
    if (this.stopped || !this.state.available) return
    const now = Date.now()
    const tx = this.state.tx()
    const { failed, next } = failOverdue(this.state.releases, tx, now, this.startedAt, this.outcomes.retry)
    if (next !== Number.POSITIVE_INFINITY)
      this.deadlines.schedule(Math.max(next, now + OUTCOME_SWEEP_MIN_INTERVAL_MS))
    if (failed.length === 0) return
    for (const { releaseId, nodeId } of failed) {
      this.announce(tx, { type: 'release.node', releaseId, nodeId, state: 'failed', reason: OUTCOME_TIMEOUT })
      this.gates.mark(releaseId)
    }
    log('%d node(s) reported no outcome before their deadline: failed, timeout', failed.length)
    await tx.commit({ sync: true })
    // late members among them wait for a catch-up retry
    this.retries.arm()
    this.gates.schedule()
  }

  /**
   * Evaluates the gates of every release that had outcomes since the last call; new
   * commands are committed (synced) before they are delivered (`settle.ts`).
   */
  async settle(): Promise<void> {
    await this.gates.settle()
  }

  /**
   * Evaluates every running release once, at start. Which releases are blocked is kept in
   * memory only, and a gate may have passed by outcomes committed just before the tracker
   * stopped: without this, such a release would wait for an operator. One still blocked is
   * then retried as outcomes come in, as before the restart.
   */
  async start(): Promise<void> {
    // deadlines that passed while the tracker was down apply before anything is evaluated
    await this.expireOutcomes()
    for (const r of this.state.releases.releases.values()) if (r.status === 'running') this.gates.mark(r.id)
    await this.gates.settle()
    // catch-up retries on disk: the stale dropped, the sweep scheduled for the next one due
    await this.retries.sweep()
  }

  /** Stops scheduled evaluations (the state is about to close). */
  stop(): void {
    this.stopped = true
    this.gates.stop()
    this.deadlines.stop()
    this.retries.stop()
  }

  /** Operator operation on a release (see `operations.ts`). */
  async operate(id: string, op: ReleaseOperation, options: OperateOptions = {}): Promise<Release> {
    const r = this.state.releases.get(id)
    // Checked before anything changes, on the writers' state, which an advance changes before
    // its commit is awaited: of two concurrent advances from one stage, the second sees the
    // first's and is refused, rather than skipping the stage (and the gate) after it.
    if (op === 'advance' && options.from !== undefined && options.from !== r.stage)
      throw new StageMismatchError(r.id, options.from, r.stage, r.stages.length)
    const tx = this.state.tx()
    const touched = applyOperation(this.operations, tx, r, op)
    this.state.releases.put(tx, r)
    await tx.commit({ sync: true })
    this.emitEvent({
      type: 'release.status',
      releaseId: r.id,
      status: r.status,
      op,
      // an abort says what it left: how many nodes it withdrew from, among the rest
      ...(op === 'abort' && r.result !== undefined ? { result: r.result } : {}),
    })
    for (const n of touched) this.deliver(n)
    return r
  }
}
