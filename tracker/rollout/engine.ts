/**
 * The rollout engine: creates releases, issues each stage's commands into the outbox,
 * follows node outcomes (and their deadlines, `deadlines.ts`) through the gates, and runs
 * the operator operations (pause, resume, advance, abort, rollback). Every change is
 * committed (synced) before the commands it created are sent, before it is announced and
 * before the caller is answered.
 */
import { EventEmitter } from 'node:events'
import { logger } from '@libp2p/logger'
import type { Command, OutcomeStatus } from '../../node/agent/protocol.ts'
import { DEFAULT_OUTCOME_TIMEOUT_MS, OUTCOME_SWEEP_MIN_INTERVAL_MS } from '../constants.ts'
import {
  IdempotencyKeyInUseError,
  IdempotencyKeyReusedError,
  InvalidReleaseStateError,
  ReleaseAtLastStageError,
  StageMismatchError,
} from '../errors.ts'
import type {
  OutboxEntry,
  Release,
  ReleaseNode,
  StageSpec,
  TrackerState,
  Tx,
  VersionRef,
} from '../state/index.ts'
import { OUTCOME_TIMEOUT } from '../state/releases.ts'
import { DeadlineTimer, failOverdue } from './deadlines.ts'
import { fingerprintOf } from './idempotency.ts'
import { planRelease } from './plan.ts'
import { refOf, revertRelease } from './revert.ts'
import { gatePassed, type ReleaseTargets } from './select.ts'
import { releaseResult } from './status.ts'

const log = logger('dandelion:tracker:rollout')

/** Input of {@link RolloutEngine.create}. */
export interface CreateReleaseInput {
  resource: string
  version: number
  targets: ReleaseTargets
  /** @default [{ percent: 100, gate: 'auto' }] */
  stages?: StageSpec[]
  ab?: { version: number; percent: number }
  activateAt?: number
  /**
   * How long a node has, from its ACK, to report an outcome before it counts as failed
   * (reason `timeout`). @default DEFAULT_OUTCOME_TIMEOUT_MS (24 h)
   */
  outcomeTimeoutMs?: number
}

/** Options of {@link RolloutEngine.operate}. */
export interface OperateOptions {
  /**
   * `advance` only: the stage index (`release.stage`) the caller saw and advances from. If
   * the release is no longer there (another or an earlier advance moved it on), the advance
   * is refused with `ERR_STAGE_MISMATCH` and nothing changes, so a retried or doubled
   * advance moves the release one stage, not two. Absent: advance from wherever it is.
   */
  from?: number
}

/** Event emitted for dashboards (SSE). */
export interface ReleaseEvent {
  /** `release.blocked`: a gate passed but the next stage could not be issued yet (`code`, `reason`). */
  type: 'release.created' | 'release.stage' | 'release.status' | 'release.node' | 'release.blocked'
  releaseId: string
  at: number
  [k: string]: unknown
}

/** Components of the engine. */
export interface RolloutEngineComponents {
  state: TrackerState
  /** Hands freshly committed commands of a node to the channel. */
  deliver(nodeId: string): void
}

const SUCCESS = new Set(['placed', 'active'])

/** See the module comment. */
export class RolloutEngine extends EventEmitter<{ event: [ReleaseEvent] }> {
  private readonly state: TrackerState
  private readonly deliver: (nodeId: string) => void
  private readonly dirty = new Set<string>()
  /** Releases whose next stage could not be issued (see {@link onBlocked}). */
  private readonly blocked = new Set<string>()
  private settling?: Promise<void>
  private stopped = false
  /** `Idempotency-Key`s of creates being committed now. */
  private readonly creating = new Set<string>()
  /** Fires at the earliest outcome deadline (see `deadlines.ts`). */
  private readonly deadlines = new DeadlineTimer(() => {
    this.expireOutcomes().catch((err) => log.error('applying outcome deadlines failed: %e', err))
  })
  /** Nodes ACKed before `ackedAt` was recorded count their deadline from here. */
  private readonly startedAt = Date.now()

  constructor(components: RolloutEngineComponents) {
    super()
    this.state = components.state
    this.deliver = components.deliver
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
  private announce(tx: Tx, e: Omit<ReleaseEvent, 'at'>): void {
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
    const { releases } = this.state
    const { release, order, stageOf, variants } = planRelease(this.state, input)
    if (idempotency !== undefined) release.idempotency = idempotency
    const id = release.id
    const tx = this.state.tx()
    releases.put(tx, release)
    let touched: string[]
    try {
      for (const nodeId of order) {
        const cur = releases.currentOf(nodeId, input.resource)
        releases.putNode(tx, id, {
          nodeId,
          stage: stageOf.get(nodeId)!,
          variant: variants.get(nodeId)!,
          state: 'waiting',
          percent: 0,
          peerBytes: 0,
          originBytes: 0,
          prev: cur === undefined ? undefined : refOf(cur),
        })
      }
      touched = this.issueStage(tx, release, 0)
    } catch (err) {
      // memory was changed as we went; `tx` is dropped uncommitted, so nothing reached disk
      releases.delete(tx, id)
      throw err
    }
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
    if (this.creating.has(key)) throw new IdempotencyKeyInUseError()
    const fingerprint = fingerprintOf(input)
    const existing = this.state.releases.byIdempotencyKey(key)
    if (existing !== undefined) {
      if (existing.idempotency?.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError(existing.id)
      return { release: existing, replayed: true }
    }
    this.creating.add(key)
    try {
      return { release: await this.create(input, { key, fingerprint }), replayed: false }
    } finally {
      this.creating.delete(key)
    }
  }

  /**
   * Queues `place` commands for every waiting node up to stage `k`; returns the nodes touched.
   * All or nothing: if a command cannot be queued (a node's outbox is full), the commands
   * already queued are withdrawn and the nodes put back, so the stage stays un-issued.
   */
  private issueStage(tx: Tx, r: Release, k: number): string[] {
    const issued: Array<{ before: ReleaseNode; cmdId: string }> = []
    try {
      for (const rn of this.state.releases.nodesOf(r.id).values()) {
        if (rn.stage > k || rn.state !== 'waiting') continue
        const v: VersionRef = rn.variant === 'B' && r.ab !== undefined ? r.ab : r
        const cmd = this.state.outbox.enqueue(tx, rn.nodeId, {
          op: 'place',
          resource: r.resource,
          version: v.version,
          manifestCid: v.manifestCid,
          activateAt: r.activateAt,
          releaseId: r.id,
        })
        issued.push({ before: rn, cmdId: cmd.id })
        this.state.releases.putNode(tx, r.id, { ...rn, state: 'pending', cmdId: cmd.id })
      }
    } catch (err) {
      // memory is changed as we go and a caller may still commit `tx` for other releases:
      // undo in both, or a half-issued stage would be sent or left behind on disk.
      // Nothing was delivered yet (delivery follows the commit), so withdrawing is safe.
      for (const { before, cmdId } of issued) {
        this.state.outbox.cancel(tx, before.nodeId, cmdId)
        this.state.releases.putNode(tx, r.id, before)
      }
      throw err
    }
    const touched = issued.map((i) => i.before.nodeId)
    r.stage = k
    this.state.releases.put(tx, r)
    log('release %s stage %d: %d commands', r.id, k, touched.length)
    return touched
  }

  /** The node ACKed receipt of a command. */
  onAck(tx: Tx, nodeId: string, cmd: Command): void {
    const rn = this.nodeOf(cmd, nodeId)
    if (rn === undefined || rn.state !== 'pending' || cmd.op !== 'place') return
    // updated in place: the hot path of a 5,000-node rollout should not copy per message
    this.startFetching(rn, cmd.releaseId!)
    this.state.releases.putNode(tx, cmd.releaseId!, rn)
  }

  /** `rn` has its command: its outcome deadline starts now. */
  private startFetching(rn: ReleaseNode, releaseId: string): void {
    rn.state = 'fetching'
    rn.ackedAt = Date.now()
    const timeout =
      this.state.releases.releases.get(releaseId)?.outcomeTimeoutMs ?? DEFAULT_OUTCOME_TIMEOUT_MS
    this.deadlines.schedule(rn.ackedAt + timeout)
  }

  /** Progress of a fetch. Kept in memory and written without sync: it is advisory. */
  onProgress(
    tx: Tx,
    nodeId: string,
    cmd: Command,
    p: { percent: number; peerBytes: number; originBytes: number },
  ): void {
    const rn = this.nodeOf(cmd, nodeId)
    if (rn === undefined) return
    if (rn.state === 'pending') this.startFetching(rn, cmd.releaseId!)
    rn.percent = p.percent
    rn.peerBytes = p.peerBytes
    rn.originBytes = p.originBytes
    this.state.releases.putNode(tx, cmd.releaseId!, rn)
  }

  private nodeOf(cmd: Command, nodeId: string): ReleaseNode | undefined {
    if (cmd.releaseId === undefined) return undefined
    const rn = this.state.releases.nodes.get(cmd.releaseId)?.get(nodeId)
    return rn?.cmdId === cmd.id ? rn : undefined
  }

  /**
   * A node reported an outcome. The release's gate is evaluated once per event-loop turn
   * for all outcomes that arrived in it (evaluation walks every node of the release, so
   * doing it per outcome would be quadratic in the number of nodes).
   */
  onOutcome(
    tx: Tx,
    nodeId: string,
    entry: OutboxEntry,
    o: { status: OutcomeStatus; reason?: string; peerBytes?: number; originBytes?: number },
  ): void {
    const { cmd } = entry
    const rn = this.nodeOf(cmd, nodeId)
    if (rn === undefined) {
      // a node working through its outbox frees the room a blocked release waits for
      if (this.blocked.size > 0) this.scheduleSettle()
      return
    }
    const r = this.state.releases.get(cmd.releaseId!)
    // after its deadline (`timedOutAt` set): still recorded, the node did get the content;
    // its state moves from `failed` to what it reports, so it is counted once
    const late = rn.state === 'failed' && rn.timedOutAt !== undefined
    const next: ReleaseNode = { ...rn, reason: o.reason }
    if (o.peerBytes !== undefined) next.peerBytes = o.peerBytes
    if (o.originBytes !== undefined) next.originBytes = o.originBytes
    if (cmd.op === 'place') {
      next.state = o.status === 'failed' ? 'failed' : o.status === 'placed' ? 'placed' : 'active'
      if (next.state !== 'failed') next.percent = 100
      if (next.state === 'active')
        this.state.releases.setCurrent(tx, nodeId, r.resource, {
          version: cmd.version,
          manifestCid: cmd.manifestCid,
          releaseId: r.id,
        })
    } else {
      next.state = o.status === 'failed' ? 'failed' : 'reverted'
      // back on what it ran before: that version's release is again the one it runs, so
      // rolling that one back later reverts this node too
      if (next.state === 'reverted')
        this.state.releases.setCurrent(
          tx,
          nodeId,
          r.resource,
          cmd.op === 'activate'
            ? refOf({ version: cmd.version, manifestCid: cmd.manifestCid, releaseId: rn.prev?.releaseId })
            : undefined,
        )
    }
    this.state.releases.putNode(tx, r.id, next)
    this.announce(tx, {
      type: 'release.node',
      releaseId: r.id,
      nodeId,
      state: next.state,
      reason: o.reason,
      ...(late ? { late: true } : {}),
    })
    if (r.status === 'completed' && r.result !== undefined) {
      // a late outcome changes how a completed release ended
      r.result = releaseResult(this.state.releases.nodesOf(r.id).values())
      this.state.releases.put(tx, r)
    }
    this.dirty.add(r.id)
    this.scheduleSettle()
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
    const { failed, next } = failOverdue(this.state.releases, tx, now, this.startedAt)
    if (next !== Number.POSITIVE_INFINITY)
      this.deadlines.schedule(Math.max(next, now + OUTCOME_SWEEP_MIN_INTERVAL_MS))
    if (failed.length === 0) return
    for (const { releaseId, nodeId } of failed) {
      this.announce(tx, { type: 'release.node', releaseId, nodeId, state: 'failed', reason: OUTCOME_TIMEOUT })
      this.dirty.add(releaseId)
    }
    log('%d node(s) reported no outcome before their deadline: failed, timeout', failed.length)
    await tx.commit({ sync: true })
    this.scheduleSettle()
  }

  private scheduleSettle(): void {
    if (this.settling !== undefined) return
    this.settling = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.settle())
      // nobody awaits this: a rejection would be unhandled and end the tracker process
      .catch((err) => log.error('gate evaluation failed: %e', err))
  }

  /**
   * Evaluates the gates of every release that had outcomes since the last call; new
   * commands are committed (synced) before they are delivered.
   */
  async settle(): Promise<void> {
    this.settling = undefined
    const ids = [...this.dirty]
    this.dirty.clear()
    // while the state is reloaded after a failed write nothing is evaluated; every running
    // release is evaluated again once it is (see `start`)
    if (this.stopped || ids.length === 0 || !this.state.available) return
    const tx = this.state.tx()
    const touched: string[] = []
    for (const id of ids) {
      try {
        touched.push(...this.evaluate(tx, this.state.releases.get(id)))
        if (this.blocked.delete(id)) log('release %s is no longer blocked', id)
      } catch (err) {
        this.onBlocked(id, err)
      }
    }
    try {
      await tx.commit({ sync: true })
    } catch (err) {
      log.error('committing gate evaluation failed: %e', err)
      return
    }
    for (const n of touched) this.deliver(n)
  }

  /**
   * A passed gate could not issue the next stage, typically because a node of that stage is
   * offline with a full outbox. The release keeps running with the stage un-issued (nothing
   * was changed) and is evaluated again at every later settle (any outcome schedules one
   * while a release is blocked), so it moves on by itself once the outbox drains; `advance`
   * answers the operator with the error meanwhile. Reported
   * once per blockage: a busy tracker settles many times a second.
   */
  private onBlocked(id: string, err: unknown): void {
    this.dirty.add(id)
    if (this.blocked.has(id)) {
      log('release %s still blocked: %e', id, err)
      return
    }
    this.blocked.add(id)
    log.error('release %s: cannot issue its next stage, will retry: %e', id, err)
    this.emitEvent({
      type: 'release.blocked',
      releaseId: id,
      code: err instanceof Error && 'code' in err ? err.code : undefined,
      reason: err instanceof Error ? err.message : String(err),
    })
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
    for (const r of this.state.releases.releases.values()) if (r.status === 'running') this.dirty.add(r.id)
    await this.settle()
  }

  /** Stops scheduled evaluations (the state is about to close). */
  stop(): void {
    this.stopped = true
    this.deadlines.stop()
  }

  /**
   * Applies the gate of the current stage; returns nodes given new commands. A stage that
   * brings no node of its own (fewer targets than stages: one node with stages 20, 100 is
   * all canary) has no outcome coming that would evaluate it later: its gate is applied at
   * once, on the nodes reached so far, and so is the completion after a last such stage.
   */
  private evaluate(tx: Tx, r: Release): string[] {
    if (r.status !== 'running' || r.stage < 0) return []
    const last = r.stages.length - 1
    while (r.stage < last) {
      const gate = r.stages[r.stage]
      if (gate.gate !== 'auto' || !this.gateOpen(r, gate.successRatio ?? 1)) return []
      const touched = this.issueStage(tx, r, r.stage + 1)
      this.announce(tx, { type: 'release.stage', releaseId: r.id, stage: r.stage })
      // its nodes have yet to report
      if (touched.length > 0) return touched
    }
    const nodes = [...this.state.releases.nodesOf(r.id).values()]
    if (nodes.every((n) => n.state === 'active' || n.state === 'failed')) {
      // `completed` whatever the nodes' outcomes, as clients have always read it (nothing is
      // left to wait on); `result` says how they ended
      r.status = 'completed'
      r.result = releaseResult(this.state.releases.nodesOf(r.id).values())
      this.state.releases.put(tx, r)
      this.announce(tx, { type: 'release.status', releaseId: r.id, status: r.status, result: r.result })
    }
    return []
  }

  /** Whether `ratio` of the nodes reached so far (stages up to the current one) succeeded. */
  private gateOpen(r: Release, ratio: number): boolean {
    let reached = 0
    let ok = 0
    for (const n of this.state.releases.nodesOf(r.id).values()) {
      if (n.stage > r.stage) continue
      reached++
      if (SUCCESS.has(n.state)) ok++
    }
    return gatePassed(ok, reached, ratio)
  }

  /** Operator operation on a release. */
  async operate(
    id: string,
    op: 'pause' | 'resume' | 'advance' | 'abort' | 'rollback',
    options: OperateOptions = {},
  ): Promise<Release> {
    const r = this.state.releases.get(id)
    // Checked before anything changes, on the writers' state, which an advance changes before
    // its commit is awaited: of two concurrent advances from one stage, the second sees the
    // first's and is refused, rather than skipping the stage (and the gate) after it.
    if (op === 'advance' && options.from !== undefined && options.from !== r.stage)
      throw new StageMismatchError(r.id, options.from, r.stage, r.stages.length)
    const tx = this.state.tx()
    let touched: string[] = []
    const live = r.status === 'running' || r.status === 'paused'
    switch (op) {
      case 'pause':
        if (r.status !== 'running') throw new InvalidReleaseStateError(op, r.status)
        r.status = 'paused'
        break
      case 'resume':
        if (r.status !== 'paused') throw new InvalidReleaseStateError(op, r.status)
        r.status = 'running'
        // the release is resumed even if its next stage cannot be issued yet: it is then
        // blocked and retried like a gate passed by an outcome
        try {
          touched = this.evaluate(tx, r)
        } catch (err) {
          this.onBlocked(r.id, err)
        }
        break
      case 'advance':
        if (!live) throw new InvalidReleaseStateError(op, r.status)
        if (r.stage >= r.stages.length - 1) throw new ReleaseAtLastStageError(r.id, r.status, r.stages.length)
        touched = this.issueStage(tx, r, r.stage + 1)
        this.announce(tx, { type: 'release.stage', releaseId: r.id, stage: r.stage })
        // a stage with no node of its own: nothing will report on it, so its gate (or the
        // completion, if it was the last) is applied now, as after an outcome; a stage after
        // it that cannot be queued yet is blocked and retried, as after a resume
        if (touched.length === 0)
          try {
            touched = this.evaluate(tx, r)
          } catch (err) {
            this.onBlocked(r.id, err)
          }
        break
      case 'abort':
        if (!live) throw new InvalidReleaseStateError(op, r.status)
        r.status = 'aborted'
        break
      case 'rollback':
        if (r.status === 'rolled_back') throw new InvalidReleaseStateError(op, r.status)
        touched = revertRelease(this.state, tx, r)
        r.status = 'rolled_back'
        break
    }
    this.state.releases.put(tx, r)
    await tx.commit({ sync: true })
    this.emitEvent({ type: 'release.status', releaseId: r.id, status: r.status, op })
    for (const n of touched) this.deliver(n)
    return r
  }
}
