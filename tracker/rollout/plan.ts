/**
 * Validates a release request and plans it: the version (and A/B version) must be
 * approved, the stages increasing and ending at 100 %, the targets non-empty; target
 * nodes get their stage and A/B side. Nothing is written.
 */
import { randomUUID } from 'node:crypto'
import { DEFAULT_GATE_SUCCESS_RATIO, MAX_STAGES } from '../constants.ts'
import { FinalStageNotFullError, ValidationError, VersionNotApprovedError } from '../errors.ts'
import type { Release, TrackerState } from '../state/index.ts'
import type { CreateReleaseInput } from './engine.ts'
import { assignStages, assignVariants, isEmptyTargets, matches, rolloutOrder } from './select.ts'

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
  const main = catalog.get(input.resource, input.version)
  if (main.status !== 'approved') throw new VersionNotApprovedError(input.resource, input.version)
  let ab: Release['ab']
  if (input.ab !== undefined) {
    const b = catalog.get(input.resource, input.ab.version)
    if (b.status !== 'approved') throw new VersionNotApprovedError(input.resource, input.ab.version)
    ab = { version: b.version, manifestCid: b.manifestCid, percent: input.ab.percent }
  }
  const ids = [...inventory.nodes.values()]
    .filter((n) =>
      matches({ id: n.id, campus: n.campus, city: inventory.cityOf(n), labels: n.labels }, input.targets),
    )
    .map((n) => n.id)
  if (ids.length === 0) throw new ValidationError('targets match no node')
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
    status: 'running',
    stage: -1,
    total: ids.length,
    createdAt: now,
    updatedAt: now,
  }
  return { release, order, stageOf, variants }
}
