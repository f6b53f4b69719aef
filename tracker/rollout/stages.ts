/**
 * Stage advancing: writing a planned release with its first stage, issuing a stage's
 * `place` commands, and applying a release's gates (and its completion) to the outcomes so
 * far. Everything is written into the caller's transaction; committing, delivering and
 * scheduling are the engine's (`engine.ts`).
 */
import { logger } from '@libp2p/logger'
import type { Release, ReleaseNode, TrackerState, Tx } from '../state/index.ts'
import { NO_PROGRESS } from '../state/release-types.ts'
import type { Announce } from './engine-types.ts'
import { placeFields } from './place.ts'
import type { ReleasePlan } from './plan.ts'
import { catchUpRelease } from './reconcile.ts'
import { refOf } from './revert.ts'
import { gatePassed } from './select.ts'

const log = logger('dandelion:tracker:rollout')

const SUCCESS = new Set(['placed', 'active'])

/**
 * Writes the planned release and its nodes into `tx` and issues its first stage; returns
 * the nodes touched. If the stage cannot be issued the release is deleted from `tx` again
 * and the error thrown: `tx` is then to be dropped uncommitted.
 */
export function writeRelease(state: TrackerState, tx: Tx, plan: ReleasePlan): string[] {
  const { releases } = state
  const { release, order, stageOf, variants } = plan
  const id = release.id
  releases.put(tx, release)
  try {
    for (const nodeId of order) {
      const cur = releases.currentOf(nodeId, release.resource)
      releases.putNode(tx, id, {
        nodeId,
        stage: stageOf.get(nodeId)!,
        variant: variants.get(nodeId)!,
        state: 'waiting',
        ...NO_PROGRESS,
        prev: cur === undefined ? undefined : refOf(cur),
      })
    }
    return issueStage(state, tx, release, 0)
  } catch (err) {
    // memory was changed as we went; `tx` is dropped uncommitted, so nothing reached disk
    releases.delete(tx, id)
    throw err
  }
}

/**
 * Queues `place` commands for every waiting node up to stage `k`; returns the nodes touched.
 * All or nothing: if a command cannot be queued (a node's outbox is full), the commands
 * already queued are withdrawn and the nodes put back, so the stage stays un-issued.
 */
export function issueStage(state: TrackerState, tx: Tx, r: Release, k: number): string[] {
  const issued: Array<{ before: ReleaseNode; cmdId: string }> = []
  try {
    for (const rn of state.releases.nodesOf(r.id).values()) {
      if (rn.stage > k || rn.state !== 'waiting') continue
      const cmd = state.outbox.enqueue(tx, rn.nodeId, placeFields(r, rn.variant))
      issued.push({ before: rn, cmdId: cmd.id })
      state.releases.putNode(tx, r.id, { ...rn, state: 'pending', cmdId: cmd.id })
    }
  } catch (err) {
    // memory is changed as we go and a caller may still commit `tx` for other releases:
    // undo in both, or a half-issued stage would be sent or left behind on disk.
    // Nothing was delivered yet (delivery follows the commit), so withdrawing is safe.
    for (const { before, cmdId } of issued) {
      state.outbox.cancel(tx, before.nodeId, cmdId)
      state.releases.putNode(tx, r.id, before)
    }
    throw err
  }
  const touched = issued.map((i) => i.before.nodeId)
  r.stage = k
  state.releases.put(tx, r)
  log('release %s stage %d: %d commands', r.id, k, touched.length)
  return touched
}

/**
 * Applies the gate of the current stage; returns nodes given new commands. A stage that
 * brings no node of its own (fewer targets than stages: one node with stages 20, 100 is
 * all canary) has no outcome coming that would evaluate it later: its gate is applied at
 * once, on the nodes reached so far, and so is the completion after a last such stage.
 * On completion, nodes its targets came to cover while it ran join it (`reconcile.ts`).
 */
export function evaluate(state: TrackerState, tx: Tx, r: Release, announce: Announce): string[] {
  if (r.status !== 'running' || r.stage < 0) return []
  const last = r.stages.length - 1
  while (r.stage < last) {
    const gate = r.stages[r.stage]
    if (gate.gate !== 'auto' || !gateOpen(state, r, gate.successRatio ?? 1)) return []
    const touched = issueStage(state, tx, r, r.stage + 1)
    announce(tx, { type: 'release.stage', releaseId: r.id, stage: r.stage })
    // its nodes have yet to report
    if (touched.length > 0) return touched
  }
  const nodes = [...state.releases.nodesOf(r.id).values()]
  if (nodes.every((n) => n.state === 'active' || n.state === 'failed')) {
    // `completed` whatever the nodes' outcomes, as clients have always read it (nothing is
    // left to wait on); `result` says how they ended
    r.status = 'completed'
    r.finishedAt = Date.now()
    r.result = state.releases.resultOf(r)
    state.releases.put(tx, r)
    announce(tx, { type: 'release.status', releaseId: r.id, status: r.status, result: r.result })
    // nodes that came into its targets while it ran join it now, in the same commit: a
    // restart between the completion and their commands cannot lose them
    return catchUpRelease({ state, announce }, tx, r)
  }
  return []
}

/** Whether `ratio` of the nodes reached so far (stages up to the current one) succeeded. */
function gateOpen(state: TrackerState, r: Release, ratio: number): boolean {
  let reached = 0
  let ok = 0
  for (const n of state.releases.nodesOf(r.id).values()) {
    if (n.stage > r.stage) continue
    reached++
    if (SUCCESS.has(n.state)) ok++
  }
  return gatePassed(ok, reached, ratio)
}
