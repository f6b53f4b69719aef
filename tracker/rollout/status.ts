/**
 * Release status for operators: node counts by state per stage, city and campus, nodes
 * that missed their outcome deadline, and bytes by source (peers vs origin). A compacted
 * release's counts come from its summary (`retention.ts`), per campus and city included,
 * plus the nodes it still holds one by one (held open when it was compacted, or late
 * members that joined since): folded and held, every node is counted once.
 */
import type { NodeState, Release, Repositories } from '../state/index.ts'
import { addCounts, type NodePlace, type SparseCounts } from '../state/release-summary.ts'
import { isTimedOut } from '../state/releases.ts'

export { releaseResult } from '../state/releases.ts'

/** Counts of nodes by state. */
export type StateCounts = Record<NodeState, number>

/** Status of one release. */
export interface ReleaseStatusReport {
  release: Release
  counts: StateCounts
  stages: Array<{
    stage: number
    percent: number
    gate: string
    nodes: number
    counts: StateCounts
    /** Of `counts.failed`, nodes that reported no outcome before their deadline. */
    timedOut: number
  }>
  cities: Record<string, StateCounts>
  campuses: Record<string, StateCounts>
  variants: Record<'A' | 'B', StateCounts>
  /** Of `counts.failed`, nodes that reported no outcome before their deadline (reason `timeout`). */
  timedOut: number
  /** Nodes that reported after their deadline: counted in the state they reported, once. */
  late: number
  /**
   * Of `counts.failed`, late members waiting for a catch-up retry (`catch-up.ts`); their
   * `attempts`, `lastFailure` and `retryAt` are in `GET /releases/:id/nodes`.
   */
  retrying: number
  bytes: { peers: number; origin: number }
  /**
   * Set if the release is compacted: when, how many nodes' states were folded into the
   * counts above and dropped (`nodes`), and how many it still holds one by one (`held`:
   * nodes that held it open when it was compacted, a command still out or queued, a
   * withdrawal to tell, a retry due, and late members that joined since; each is folded in
   * by a later pass once answered and quiet), counted above as well. `cities` and
   * `campuses` count the folded nodes where they were when folded, the held ones where they
   * are now; a release compacted before those were kept counts only the latter.
   * `GET /releases/:id/nodes` lists only the held nodes.
   */
  compacted?: { at: number; nodes: number; held: number }
}

const empty = (): StateCounts => ({
  waiting: 0,
  pending: 0,
  fetching: 0,
  placed: 0,
  active: 0,
  failed: 0,
  reverting: 0,
  reverted: 0,
  withdrawn: 0,
})

/** The counts of `key` in `map`, created empty on first use. */
function countIn(map: Map<string, StateCounts>, key: string): StateCounts {
  let c = map.get(key)
  if (c === undefined) {
    c = empty()
    map.set(key, c)
  }
  return c
}

/** Adds stored counts by id (a compacted release's per campus or city) to `map`. */
function addById(map: Map<string, StateCounts>, stored: Record<string, SparseCounts> | undefined): void {
  for (const [id, c] of Object.entries(stored ?? {})) addCounts(countIn(map, id), c)
}

/** Where `nodeId` is now, as the status counts it: `(none)` for no campus, or no such node. */
export function nodePlace(inventory: Repositories['inventory'], nodeId: string): NodePlace {
  const node = inventory.nodes.get(nodeId)
  return { campus: node?.campus ?? '(none)', city: (node && inventory.cityOf(node)) ?? '(none)' }
}

/**
 * Builds the status report of a release from `state`: the admin API passes what is on disk
 * (`TrackerState.committed`).
 */
export function releaseStatus(
  state: Pick<Repositories, 'releases' | 'inventory'>,
  id: string,
): ReleaseStatusReport {
  const release = state.releases.get(id)
  const counts = empty()
  const stages = release.stages.map((s, i) => ({
    stage: i,
    percent: s.percent,
    gate: s.gate,
    nodes: 0,
    counts: empty(),
    timedOut: 0,
  }))
  // Maps, not plain objects: ids are chosen by operators, and an id such as `__proto__`
  // or `constructor` must count as itself, never reach Object.prototype.
  const cities = new Map<string, StateCounts>()
  const campuses = new Map<string, StateCounts>()
  const variants = { A: empty(), B: empty() }
  const bytes = { peers: 0, origin: 0 }
  let timedOut = 0
  let late = 0
  let retrying = 0
  let held = 0
  const folded = release.compacted
  if (folded !== undefined) {
    addCounts(counts, folded.counts)
    folded.stages.forEach((f, i) => {
      const st = stages[i]
      if (st === undefined) return
      st.nodes += f.nodes
      st.timedOut += f.timedOut
      addCounts(st.counts, f.counts)
    })
    addById(campuses, folded.campuses)
    addById(cities, folded.cities)
    addCounts(variants.A, folded.variants.A)
    addCounts(variants.B, folded.variants.B)
    timedOut += folded.timedOut
    late += folded.late
    bytes.peers += folded.bytes.peers
    bytes.origin += folded.bytes.origin
  }
  for (const rn of state.releases.nodes.get(id)?.values() ?? []) {
    held++
    counts[rn.state]++
    if (isTimedOut(rn)) {
      timedOut++
      stages[rn.stage].timedOut++
    } else if (rn.timedOutAt !== undefined) late++
    if (rn.retryAt !== undefined && rn.deletedAt === undefined) retrying++
    stages[rn.stage].nodes++
    stages[rn.stage].counts[rn.state]++
    variants[rn.variant][rn.state]++
    const { campus, city } = nodePlace(state.inventory, rn.nodeId)
    countIn(campuses, campus)[rn.state]++
    countIn(cities, city)[rn.state]++
    bytes.peers += rn.peerBytes
    bytes.origin += rn.originBytes
  }
  return {
    release,
    counts,
    stages,
    // Object.fromEntries defines own properties, so even `__proto__` stays an entry
    cities: Object.fromEntries(cities),
    campuses: Object.fromEntries(campuses),
    variants,
    timedOut,
    late,
    retrying,
    bytes,
    ...(folded === undefined ? {} : { compacted: { at: folded.at, nodes: folded.nodes, held } }),
  }
}
