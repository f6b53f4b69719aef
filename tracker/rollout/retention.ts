/**
 * Release retention: which releases are compacted, what compaction keeps, and which
 * compacted releases decide nothing any more (and may be deleted). The sweeper
 * (`sweeper.ts`) applies it periodically.
 *
 * A release is compacted once it is finished (completed, aborted or rolled back) and has
 * been quiet for the retention period (since it finished, and since its last late member
 * joined). Its per-node states are folded into counts on the release (`Release.compacted`,
 * as its status shows them, per campus and city by where each node is when folded) and
 * dropped, but for the nodes that still hold it open ({@link holdsOpen}: a command still
 * out or queued, or a withdrawn one the node's next hello has to tell about; a late member
 * waiting for a catch-up retry that is still wanted, {@link awaitsRetry}): those keep their
 * states, as late members do, and are folded in by a later pass once they no longer hold it
 * ({@link foldable}). So one node that never comes back keeps its own state, not the
 * release's thousands. What compaction loses, and why nothing depends on it:
 *
 * - what each node ran before (`prev`): only a rollback reads it, and a compacted release
 *   refuses rollback (`ERR_RELEASE_COMPACTED`): release the old version instead (a held
 *   node keeps its `prev`, but a rollback of part of a release is none);
 * - each folded node's state, reason, bytes, deadline and command id: nothing of it is out
 *   any more, so no report can arrive for it; the counts stay. A held node's command is
 *   answered on its kept state, as before compaction;
 * - for a release that still decides what nodes run (completed, some node got it), its
 *   members and their A/B sides are kept ({@link CompactedMembers}: ids, and the few sides
 *   the A/B hash does not give): reconciliation leaves a member alone and gives every node
 *   the side it had, as before (a held node by its own state). They are dropped once it
 *   decides nothing any more. A completed release no node got yet is kept the same way while
 *   a node is held: the held node's outcome may yet put it in force.
 *
 * A compacted release decides nothing any more ({@link retiredReleases}) when it is not in
 * force (aborted, rolled back, or completed with no node that got it), or when every one of
 * its targets is covered by a newer compacted release in force of the same resource: that
 * one is found first for every node it could cover, and, compacted, it can no longer be
 * rolled back and stays in force. Such releases may be deleted once no node state is left on
 * them (a held node's command must not lose its release); references to them (a node's
 * current release, a `prev`) are informational only.
 */
import type { Release, ReleaseNode, TrackerState, Tx } from '../state/index.ts'
import { type CompactedMembers, emptySummary, foldNodes } from '../state/release-summary.ts'
import { isTimedOut } from '../state/releases.ts'
import { retryWanted } from './catch-up.ts'
import { hashedVariant, inForce } from './desired-versions.ts'
import { UNANSWERED } from './reconcile.ts'
import type { ReleaseTargets } from './select.ts'
import { nodePlace } from './status.ts'

/** Statuses of a release that is over: only these are compacted. */
export const FINISHED: ReadonlySet<string> = new Set(['completed', 'aborted', 'rolled_back'])

/**
 * Whether `rn` still holds its release open, so that folding it into counts would lose
 * something yet to come: its command is out and unanswered (a running late member, a
 * rollback's revert, a `place` an aborted release left out), or still queued (a node past
 * its outcome deadline may yet report: the outcome is recorded), or it was withdrawn and the
 * node's next hello has to tell whether it held it (`withdraw.ts`). A deleted machine's
 * entry holds nothing: its commands were dropped with it. A node that never comes back
 * keeps its own state in the compacted release (see the module comment) until it answers
 * or is deleted (`DELETE /nodes/:id`); the rest of the release is folded without it.
 */
export function holdsOpen(state: TrackerState, rn: ReleaseNode): boolean {
  if (rn.deletedAt !== undefined) return false
  if (UNANSWERED.has(rn.state)) return true
  if (rn.state === 'withdrawn' && rn.withdrawnSeq !== undefined && rn.cmdId !== undefined) return true
  return rn.cmdId !== undefined && state.outbox.byCommand(rn.cmdId)?.nodeId === rn.nodeId
}

/**
 * Whether `rn` is a late member of `r` waiting for a catch-up retry that is still wanted
 * (`catch-up.ts`). Folding it would lose the retry: it drops the state that holds the
 * schedule, and keeps the node among the members, which reconciliation never sends the
 * version again. So the node keeps its state until the retry succeeds or is no longer
 * wanted (a newer release covers the node, it moved out of the targets, it was deleted), as
 * a node with a command queued does. A retry no longer wanted holds nothing, even before the
 * retry sweep drops it.
 */
export function awaitsRetry(state: TrackerState, r: Release, rn: ReleaseNode): boolean {
  return rn.retryAt !== undefined && retryWanted(state, r, rn)
}

/** Whether `rn` of `r` may be folded into counts now: it holds nothing of `r` open. */
export function foldable(state: TrackerState, r: Release, rn: ReleaseNode): boolean {
  return !holdsOpen(state, rn) && !awaitsRetry(state, r, rn)
}

/** When `r` went quiet (epoch ms): it finished, or a late member last joined it. */
export function quietSince(r: Release, nodes: Iterable<ReleaseNode>): number {
  let at = r.finishedAt ?? r.updatedAt
  for (const rn of nodes) if (rn.joinedAt !== undefined && rn.joinedAt > at) at = rn.joinedAt
  return at
}

/**
 * Whether `r` is to be compacted at `now` (see the module comment): finished, quiet for the
 * retention period, and with some node state to fold (a release with none, if it is not
 * compacted yet). A release all of whose nodes hold it open is left as it is: compacting it
 * would fold nothing, and refuse its rollback for no gain. A compacted release is again once
 * a node it still holds (held when it was compacted, or a late member since) is foldable,
 * and the release quiet for the retention period.
 */
export function dueForCompaction(state: TrackerState, r: Release, now: number, retentionMs: number): boolean {
  if (!FINISHED.has(r.status)) return false
  const nodes = state.releases.nodes.get(r.id)
  if (nodes === undefined || nodes.size === 0)
    return r.compacted === undefined && quietSince(r, []) <= now - retentionMs
  if (quietSince(r, nodes.values()) > now - retentionMs) return false
  for (const rn of nodes.values()) if (foldable(state, r, rn)) return true
  return false
}

/**
 * Compacts `r` in `tx` at `now`: folds the states of its nodes that hold nothing open
 * ({@link foldable}) into its counts, keeps its members if it is in force (their ids, and
 * those whose A/B side the hash does not give), and drops the folded states; the others
 * stay as they are, for a later pass. Returns how many it folded.
 */
export function compactRelease(state: TrackerState, tx: Tx, r: Release, now: number): number {
  const { releases } = state
  const nodes: ReleaseNode[] = []
  let held = 0
  for (const rn of releases.nodes.get(r.id)?.values() ?? []) {
    if (foldable(state, r, rn)) nodes.push(rn)
    else held++
  }
  r.compacted = foldNodes(r.compacted ?? emptySummary(now, r.stages.length), nodes, {
    timedOut: isTimedOut,
    placeOf: (nodeId) => nodePlace(state.inventory, nodeId),
  })
  // finished before the field existed: from now on `updatedAt` moves with every write
  r.finishedAt ??= r.updatedAt
  // a completed release no node got yet may be put in force by a held node's outcome: the
  // members folded now must then still be known (`retire` drops them once it decides nothing)
  if (inForce(r) || (r.status === 'completed' && held > 0)) {
    const kept = releases.membersOf(r.id)
    const ids = new Set(kept?.ids)
    const flipped = new Set(kept?.flipped)
    for (const rn of nodes) {
      // a deleted machine's entry is no member (`reconcile.ts`)
      if (rn.deletedAt !== undefined) continue
      ids.add(rn.nodeId)
      if (rn.variant !== hashedVariant(r, rn.nodeId)) flipped.add(rn.nodeId)
    }
    const members: CompactedMembers = { ids: [...ids].sort() }
    if (flipped.size > 0) members.flipped = [...flipped].sort()
    releases.setMembers(tx, r.id, ids.size === 0 ? undefined : members)
  } else releases.setMembers(tx, r.id, undefined)
  releases.dropNodes(
    tx,
    r.id,
    nodes.map((rn) => rn.nodeId),
  )
  releases.put(tx, r)
  return nodes.length
}

/** The targets a set of releases covers: every node one of them matches. */
interface Coverage {
  cities: Set<string>
  campuses: Set<string>
  nodes: Set<string>
  /** Label sets: a node carrying all of one is covered. */
  labels: string[][]
}

/**
 * Whether every node `t` can ever match is matched by `c`, whatever the inventory becomes:
 * each of its cities, campuses and node ids is named in `c` as such (a campus can move to
 * another city, so a city does not cover a campus), and its labels include one of `c`'s
 * label sets.
 */
function covers(c: Coverage, t: ReleaseTargets): boolean {
  return (
    (t.cities ?? []).every((id) => c.cities.has(id)) &&
    (t.campuses ?? []).every((id) => c.campuses.has(id)) &&
    (t.nodes ?? []).every((id) => c.nodes.has(id)) &&
    (!t.labels?.length || c.labels.some((set) => set.every((l) => t.labels!.includes(l))))
  )
}

function addCoverage(c: Coverage, t: ReleaseTargets): void {
  for (const id of t.cities ?? []) c.cities.add(id)
  for (const id of t.campuses ?? []) c.campuses.add(id)
  for (const id of t.nodes ?? []) c.nodes.add(id)
  if (t.labels?.length) c.labels.push(t.labels)
}

/**
 * The compacted releases that decide nothing any more (see the module comment), with no
 * per-node state left (a node held when it was compacted, or a late member since, keeps its
 * release: its command may yet be answered, a retry yet sent), oldest first (creation time,
 * then id).
 */
export function retiredReleases(state: TrackerState): Release[] {
  const { releases } = state
  const out: Release[] = []
  for (const resource of releases.resources()) {
    const newer: Coverage = { cities: new Set(), campuses: new Set(), nodes: new Set(), labels: [] }
    // newest first: the coverage holds every newer compacted release in force
    for (const r of releases.ofResource(resource)) {
      if (r.compacted === undefined) continue
      const held = (releases.nodes.get(r.id)?.size ?? 0) > 0
      const decides = inForce(r)
      if (!held && (!decides || covers(newer, r.targets))) out.push(r)
      if (decides) addCoverage(newer, r.targets)
    }
  }
  return out.reverse().sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
