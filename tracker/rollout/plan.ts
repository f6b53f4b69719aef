/**
 * Validates a release request and plans it: the version (and a different A/B version) must
 * be approved (not removed), the stages increasing and ending at 100 %, the activation time one a node
 * reads, the outcome timeout within bounds, the targets non-empty and naming only known cities, campuses and nodes, and no
 * live release of the resource may still wait on one of them; target nodes get their stage
 * and A/B side. Nothing is written.
 */
import { randomUUID } from 'node:crypto'
import {
  DEFAULT_GATE_SUCCESS_RATIO,
  DEFAULT_OUTCOME_TIMEOUT_MS,
  MAX_ACTIVATE_AT_MS,
  MAX_OUTCOME_TIMEOUT_MS,
  MAX_STAGES,
} from '../constants.ts'
import {
  FinalStageNotFullError,
  NotFoundError,
  ReleaseOverlapError,
  ValidationError,
  VersionNotApprovedError,
  VersionRemovedError,
} from '../errors.ts'
import { type Release, type TrackerState, type VersionRecord, WAITING_ON_NODE } from '../state/index.ts'
import type { CreateReleaseInput } from './engine-types.ts'
import {
  assignStages,
  assignVariants,
  isEmptyTargets,
  matches,
  type ReleaseTargets,
  rolloutOrder,
} from './select.ts'

/** A planned release. */
export interface ReleasePlan {
  release: Release
  /** Target nodes in rollout order. */
  order: string[]
  stageOf: Map<string, number>
  variants: Map<string, 'A' | 'B'>
}

/** See the module comment. */
export function planRelease(state: TrackerState, input: CreateReleaseInput): ReleasePlan {
  const { catalog, inventory } = state
  const stages = input.stages ?? [{ percent: 100, gate: 'auto' }]
  if (stages.length === 0 || stages.length > MAX_STAGES) throw new ValidationError('1 to 20 stages')
  stages.forEach((s, i) => {
    if (!(s.percent > 0 && s.percent <= 100) || (i > 0 && s.percent <= stages[i - 1].percent))
      throw new ValidationError('stage percentages must increase within (0, 100]')
  })
  // The last stage MUST be 100 %: `assignStages` puts every node past the last stage's
  // count into the last stage, so a release ending below 100 % would still reach every
  // target when its last stage is issued.
  const last = stages[stages.length - 1].percent
  if (last !== 100) throw new FinalStageNotFullError(last)
  if (isEmptyTargets(input.targets)) throw new ValidationError('targets are empty')
  // activateAt MUST be a time a node reads: a safe integer (it drops a command that is not,
  // with the connection that carried it, and every replay again) within a Date's range
  const at = input.activateAt
  if (at !== undefined && !(Number.isSafeInteger(at) && at >= 0 && at <= MAX_ACTIVATE_AT_MS))
    throw new ValidationError(`activateAt must be epoch milliseconds from 0 to ${MAX_ACTIVATE_AT_MS}`)
  const timeout = input.outcomeTimeoutMs
  if (
    timeout !== undefined &&
    !(Number.isSafeInteger(timeout) && timeout >= 1 && timeout <= MAX_OUTCOME_TIMEOUT_MS)
  )
    throw new ValidationError(`outcomeTimeoutMs must be milliseconds from 1 to ${MAX_OUTCOME_TIMEOUT_MS}`)
  if (input.ab !== undefined && input.ab.version === input.version)
    throw new ValidationError('ab.version must differ from version: both sides would get the same')
  checkTargetsExist(state, input.targets)
  const main = releasable(catalog.get(input.resource, input.version))
  let ab: Release['ab']
  if (input.ab !== undefined) {
    const b = releasable(catalog.get(input.resource, input.ab.version))
    ab = { version: b.version, manifestCid: b.manifestCid, percent: input.ab.percent }
  }
  const ids = [...inventory.nodes.values()]
    .filter((n) =>
      matches({ id: n.id, campus: n.campus, city: inventory.cityOf(n), labels: n.labels }, input.targets),
    )
    .map((n) => n.id)
  if (ids.length === 0) throw new ValidationError('targets match no node')
  checkNoOverlap(state, input.resource, ids)
  const id = randomUUID()
  const order = rolloutOrder(ids, id)
  const stageOf = assignStages(
    order,
    stages.map((s) => s.percent),
  )
  const variants = assignVariants(ids, id, ab?.percent ?? 0)
  const now = Date.now()
  const release: Release = {
    id,
    resource: input.resource,
    version: main.version,
    manifestCid: main.manifestCid,
    ab,
    targets: input.targets,
    stages: stages.map((s) => ({ ...s, successRatio: s.successRatio ?? DEFAULT_GATE_SUCCESS_RATIO })),
    activateAt: input.activateAt,
    outcomeTimeoutMs: timeout ?? DEFAULT_OUTCOME_TIMEOUT_MS,
    status: 'running',
    stage: -1,
    total: ids.length,
    createdAt: now,
    updatedAt: now,
  }
  return { release, order, stageOf, variants }
}

/**
 * `v` if a release may carry it: approved. A removed one is refused as such
 * ({@link VersionRemovedError}), not as a draft: approving it would not help.
 */
function releasable(v: VersionRecord): VersionRecord {
  if (v.status === 'removed') throw new VersionRemovedError(v, 'released')
  if (v.status !== 'approved') throw new VersionNotApprovedError(v.resource, v.version)
  return v
}

/**
 * Throws {@link NotFoundError} naming every city, campus or node of `targets` the inventory
 * does not hold: a typo among known ids would otherwise just reach fewer schools.
 * (Labels are free-form: a label no node carries matches nothing, which is not an error.)
 */
function checkTargetsExist(state: TrackerState, targets: ReleaseTargets): void {
  const { inventory } = state
  const unknown = [
    ...(targets.cities ?? []).filter((id) => !inventory.cities.has(id)).map((id) => `city ${id}`),
    ...(targets.campuses ?? []).filter((id) => !inventory.campuses.has(id)).map((id) => `campus ${id}`),
    ...(targets.nodes ?? []).filter((id) => !inventory.nodes.has(id)).map((id) => `node ${id}`),
  ]
  if (unknown.length > 0)
    throw new NotFoundError(unknown.slice(0, 10).join(', ') + (unknown.length > 10 ? ', …' : ''))
}

/**
 * Throws {@link ReleaseOverlapError} if a running or paused release of `resource` has yet
 * to finish with one of `nodeIds` (it waits on it: not yet sent, or no final outcome). Its
 * later stage would send its version over this one, and a rollback of either would go back
 * to a version recorded before the other landed.
 */
function checkNoOverlap(state: TrackerState, resource: string, nodeIds: string[]): void {
  const older: Array<{ id: string; version: number; nodes: string[] }> = []
  for (const r of state.releases.ofResource(resource)) {
    if (r.status !== 'running' && r.status !== 'paused') continue
    const nodes = state.releases.nodesOf(r.id)
    const shared = nodeIds.filter((id) => {
      const rn = nodes.get(id)
      return rn !== undefined && WAITING_ON_NODE.has(rn.state)
    })
    if (shared.length > 0) older.push({ id: r.id, version: r.version, nodes: shared })
  }
  if (older.length > 0) throw new ReleaseOverlapError(resource, older)
}
