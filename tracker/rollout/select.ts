/**
 * Pure rollout selection: which nodes a release targets, in which stage each one lands and
 * which side of an A/B split it gets. Everything here is a function of the inventory and
 * the release id, so a restarted tracker makes the same choices.
 */
import { createHash } from 'node:crypto'

/** What a release targets. A node matches if it matches any of the lists. */
export interface ReleaseTargets {
  cities?: string[]
  campuses?: string[]
  /** A node matches if it carries every one of these labels. */
  labels?: string[]
  nodes?: string[]
}

/** The facts about a node the selection looks at. */
export interface TargetNode {
  id: string
  city?: string
  campus?: string
  labels: string[]
}

/** True if the targets are empty (nothing would match). */
export function isEmptyTargets(t: ReleaseTargets): boolean {
  return !t.cities?.length && !t.campuses?.length && !t.labels?.length && !t.nodes?.length
}

/** Does `node` fall under `targets`? */
export function matches(node: TargetNode, targets: ReleaseTargets): boolean {
  if (targets.nodes?.includes(node.id)) return true
  if (node.city !== undefined && targets.cities?.includes(node.city)) return true
  if (node.campus !== undefined && targets.campuses?.includes(node.campus)) return true
  if (targets.labels?.length && targets.labels.every((l) => node.labels.includes(l))) return true
  return false
}

/** A stable 64-bit score of (salt, node, release): the node's place in the rollout order. */
export function score(salt: string, nodeId: string, releaseId: string): bigint {
  const h = createHash('sha256').update(`${salt}\0${releaseId}\0${nodeId}`).digest()
  return h.readBigUInt64BE(0)
}

/**
 * Orders target nodes for a release: by hash of node id and release id, so each release
 * picks a different but reproducible canary set, and a larger stage is a superset of a
 * smaller one.
 */
export function rolloutOrder(nodeIds: string[], releaseId: string): string[] {
  const scored = nodeIds.map((id) => ({ id, s: score('stage', id, releaseId) }))
  scored.sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : a.id < b.id ? -1 : 1))
  return scored.map((x) => x.id)
}

/**
 * Number of nodes covered once stage `i` is reached, for cumulative stage percentages.
 * At least one node per non-empty stage, so a 1% canary of 10 nodes is one node.
 */
export function stageCounts(total: number, percents: number[]): number[] {
  return percents.map((p) => (total === 0 ? 0 : Math.min(total, Math.max(1, Math.ceil(share(total, p))))))
}

/**
 * `total × percent / 100` without the floating-point error of a fractional percentage
 * (250 × 64.4 / 100 is 161.00000000000003, which rounded up to 162): 12 significant digits
 * are far more than any count of nodes needs.
 */
function share(total: number, percent: number): number {
  return Number(((total * percent) / 100).toPrecision(12))
}

/**
 * Stage index of each node (in rollout order). Nodes past the last stage's count land in
 * the last stage, so `percents` must end at 100 (`planRelease` refuses anything else).
 */
export function assignStages(ordered: string[], percents: number[]): Map<string, number> {
  const counts = stageCounts(ordered.length, percents)
  const out = new Map<string, number>()
  let stage = 0
  ordered.forEach((id, rank) => {
    while (stage < counts.length - 1 && rank >= counts[stage]) stage++
    out.set(id, stage)
  })
  return out
}

/**
 * A/B sides: exactly round(N × percentB / 100) nodes get B, chosen by a hash independent
 * of the stage order, so every stage carries both versions in about the same ratio.
 */
export function assignVariants(
  nodeIds: string[],
  releaseId: string,
  percentB: number,
): Map<string, 'A' | 'B'> {
  const scored = nodeIds.map((id) => ({ id, s: score('ab', id, releaseId) }))
  scored.sort((a, b) => (a.s < b.s ? -1 : a.s > b.s ? 1 : a.id < b.id ? -1 : 1))
  const countB = Math.round(share(nodeIds.length, Math.max(0, Math.min(100, percentB))))
  return new Map(scored.map((x, i) => [x.id, i < countB ? 'B' : 'A']))
}

/** Gate check: has the stage reached its success ratio? */
export function gatePassed(succeeded: number, total: number, ratio: number): boolean {
  return total > 0 && succeeded / total >= ratio - 1e-9
}
