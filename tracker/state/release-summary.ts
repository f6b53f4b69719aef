/**
 * What a compacted release keeps of its per-node states (`rollout/retention.ts`): the counts
 * its status shows, on the release itself ({@link ReleaseSummary}); and, while it still
 * decides what nodes run, who its members were and the A/B sides its hash rule does not
 * give them, in a record of its own ({@link CompactedMembers}).
 */
import type { NodeState, ReleaseNode } from './release-types.ts'

/** Counts of nodes by state; a state with none is left out. */
export type SparseCounts = Partial<Record<NodeState, number>>

/**
 * The per-node states of a release folded into counts, as its status shows them: by state,
 * per stage and per A/B side, timeouts, late reports and bytes by source. Not by city or
 * campus: those say where the nodes are now, which only the per-node states can tell.
 */
export interface ReleaseSummary {
  /** When the release was compacted (epoch ms). */
  at: number
  /** Node states folded in: the release's members when it was compacted, and late members folded since. */
  nodes: number
  counts: SparseCounts
  /** Per stage index. */
  stages: Array<{ nodes: number; counts: SparseCounts; timedOut: number }>
  variants: { A: SparseCounts; B: SparseCounts }
  /** Of `counts.failed`, the nodes whose outcome deadline passed and that never reported. */
  timedOut: number
  /** Nodes that reported after their deadline. */
  late: number
  bytes: { peers: number; origin: number }
}

/**
 * The members of a compacted release that still decides what nodes run (completed, some
 * node got it, and no newer release has taken over all its targets): reconciliation leaves
 * a member alone (`rollout/reconcile.ts`), and gives it the side it had in an A/B split.
 * Stored under `rm!<release id>`, never changed in place (a change writes a new one), so the
 * readers share the writers' copy.
 */
export interface CompactedMembers {
  /** Member node ids (a deleted node is no longer one), sorted. */
  ids: string[]
  /**
   * Of `ids`, those whose side is not the one the A/B hash gives a node that is not a
   * member (`assignVariants` gives exactly round(N × percent / 100) nodes side B, so a few
   * members near the threshold differ from it), sorted. Absent: none.
   */
  flipped?: string[]
}

/** Whether a sorted list holds `id` (binary search). */
export function sortedHas(list: readonly string[] | undefined, id: string): boolean {
  if (list === undefined) return false
  let lo = 0
  let hi = list.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const v = list[mid]
    if (v === id) return true
    if (v < id) lo = mid + 1
    else hi = mid - 1
  }
  return false
}

/** An empty summary for a release of `stages` stages, compacted at `at`. */
export function emptySummary(at: number, stages: number): ReleaseSummary {
  return {
    at,
    nodes: 0,
    counts: {},
    stages: Array.from({ length: stages }, () => ({ nodes: 0, counts: {}, timedOut: 0 })),
    variants: { A: {}, B: {} },
    timedOut: 0,
    late: 0,
    bytes: { peers: 0, origin: 0 },
  }
}

const bump = (c: SparseCounts, state: NodeState, n = 1): void => {
  c[state] = (c[state] ?? 0) + n
}

/** Adds sparse counts `from` to `to`, in place. */
export function addCounts(to: SparseCounts | Record<NodeState, number>, from: SparseCounts): void {
  for (const [state, n] of Object.entries(from) as Array<[NodeState, number]>) bump(to, state, n)
}

/**
 * `summary` with `nodes` folded in: a copy (the release holding it is copied for the
 * readers, but a copy keeps the writers' one from changing under a reader's feet).
 * `timedOut(rn)` says whether a node counts as timed out (`isTimedOut`).
 */
export function foldNodes(
  summary: ReleaseSummary,
  nodes: Iterable<ReleaseNode>,
  timedOut: (rn: ReleaseNode) => boolean,
): ReleaseSummary {
  const s: ReleaseSummary = structuredClone(summary)
  for (const rn of nodes) {
    s.nodes++
    bump(s.counts, rn.state)
    // a stage index beyond the summary's (never, a release's stages are fixed) gets its own
    while (s.stages.length <= rn.stage) s.stages.push({ nodes: 0, counts: {}, timedOut: 0 })
    const st = s.stages[rn.stage]
    st.nodes++
    bump(st.counts, rn.state)
    bump(s.variants[rn.variant], rn.state)
    if (timedOut(rn)) {
      s.timedOut++
      st.timedOut++
    } else if (rn.timedOutAt !== undefined) s.late++
    s.bytes.peers += rn.peerBytes
    s.bytes.origin += rn.originBytes
  }
  return s
}
