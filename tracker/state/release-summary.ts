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
 * per stage, per campus and city, per A/B side, timeouts, late reports and bytes by source.
 */
export interface ReleaseSummary {
  /** When the release was compacted (epoch ms). */
  at: number
  /**
   * Node states folded in: the release's members when it was compacted (but those that held
   * it open then), and those folded since (held ones once answered, late members).
   */
  nodes: number
  counts: SparseCounts
  /** Per stage index. */
  stages: Array<{ nodes: number; counts: SparseCounts; timedOut: number }>
  /**
   * Per campus, by the campus each node was in when it was folded in (`(none)`: none, or a
   * node no longer in the inventory), so that a compacted release still tells how each
   * campus did. Bounded: one entry per campus its nodes were in, and a release's nodes are
   * the nodes its targets matched. Absent in summaries made before these were kept (their
   * status counts only the nodes still held per campus).
   */
  campuses?: Record<string, SparseCounts>
  /** Per city, as {@link campuses} (the city of each node's campus then). */
  cities?: Record<string, SparseCounts>
  variants: { A: SparseCounts; B: SparseCounts }
  /** Of `counts.failed`, the nodes whose outcome deadline passed and that never reported. */
  timedOut: number
  /** Nodes that reported after their deadline. */
  late: number
  bytes: { peers: number; origin: number }
}

/**
 * The members of a compacted release that still decides what nodes run (completed, some
 * node got it, and no newer release has taken over all its targets; or a completed one no
 * node got yet while a node it holds may still get it): reconciliation leaves
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
    campuses: {},
    cities: {},
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

/** Where a node is, as a release's status counts it: its campus and that campus's city. */
export interface NodePlace {
  campus: string
  city: string
}

/** How a summary folds nodes in (see {@link foldNodes}). */
export interface FoldOptions {
  /** Whether a node counts as timed out (`isTimedOut`). */
  timedOut(rn: ReleaseNode): boolean
  /** Where a node is now. */
  placeOf(nodeId: string): NodePlace
}

/**
 * Sparse counts by id: a Map, not the stored object, while counting: ids are chosen by
 * operators, and one such as `__proto__` must count as itself, never reach Object.prototype.
 */
const byId = (stored: Record<string, SparseCounts>): Map<string, SparseCounts> =>
  new Map(Object.entries(stored).map(([id, c]) => [id, { ...c }]))

function bumpIn(map: Map<string, SparseCounts>, id: string, state: NodeState): void {
  let c = map.get(id)
  if (c === undefined) {
    c = {}
    map.set(id, c)
  }
  bump(c, state)
}

/**
 * `summary` with `nodes` folded in: a copy (the release holding it is copied for the
 * readers, but a copy keeps the writers' one from changing under a reader's feet). A
 * summary made before campuses and cities were kept gets none: counts of only the nodes
 * folded from now on would pass for the whole release's.
 */
export function foldNodes(
  summary: ReleaseSummary,
  nodes: Iterable<ReleaseNode>,
  { timedOut, placeOf }: FoldOptions,
): ReleaseSummary {
  const s: ReleaseSummary = structuredClone(summary)
  const campuses = s.campuses === undefined ? undefined : byId(s.campuses)
  const cities = s.cities === undefined ? undefined : byId(s.cities)
  for (const rn of nodes) {
    if (campuses !== undefined || cities !== undefined) {
      const place = placeOf(rn.nodeId)
      if (campuses !== undefined) bumpIn(campuses, place.campus, rn.state)
      if (cities !== undefined) bumpIn(cities, place.city, rn.state)
    }
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
  // Object.fromEntries defines own properties, so even `__proto__` stays an entry
  if (campuses !== undefined) s.campuses = Object.fromEntries(campuses)
  if (cities !== undefined) s.cities = Object.fromEntries(cities)
  return s
}
