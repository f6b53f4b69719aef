/**
 * Removing a version (`DELETE /resources/:name/versions/:version`): the origin asks before it
 * deletes a version's content to reclaim its disk. The version is kept as a tombstone
 * (`state/catalog.ts`), and only once nothing may still send it to a node or make a node run
 * it ({@link versionUse}): a node would then be sent a version the origin no longer serves,
 * and fail to fetch it (a rollback's `activate` too, once the node has evicted it). In use:
 *
 * - a node of the inventory runs it (as it last reported active);
 * - a running or paused release carries it (`version` or `ab.version`): its next stages
 *   would send it;
 * - it is what some node of the inventory should run (`desiredVersions`, `desired-versions.ts`):
 *   reconciliation would send it to that node, and to late members;
 * - it is a rollback target: a release that may still be rolled back (not rolled back, not
 *   compacted) has a node whose state a rollback reverts (`revert.ts`) to it;
 * - a command carrying it (a `place`, a rollback's `activate`) is still queued for a node, or
 *   a node has yet to say whether it got a `place` of it an abort withdrew (`withdraw.ts`).
 *
 * The check and the tombstone are made with nothing awaited in between, on the writers'
 * state, as a release is planned: of a removal and a release of the version racing, one is
 * refused. Once removed, nothing sends it: a release naming it is refused
 * (`ERR_VERSION_REMOVED`, `plan.ts`), and reconciliation and catch-up retries skip it should a
 * release of it come to cover a node later (one enrolled or moved into its targets).
 */
import { VersionInUseError } from '../errors.ts'
import type { Release, ReleaseNode, ReleaseStatus, TrackerState, Tx, VersionRecord } from '../state/index.ts'
import { desiredVersions } from './desired-versions.ts'

/** A release that uses the version, and for how many nodes. */
export interface ReleaseUse {
  id: string
  status: ReleaseStatus
  nodes: number
}

/** Releases that use the version for one reason: how many, the first (newest) few. */
export interface ReleaseUses {
  /** How many releases. */
  total: number
  /** The newest of them, at most {@link MAX_LISTED}. */
  releases: ReleaseUse[]
}

/** What uses a version (see the module comment); nothing if every count is 0. */
export interface VersionUse {
  /** Nodes of the inventory that run it. */
  running: number
  /** Running or paused releases that carry it: nodes of its side. */
  live: ReleaseUses
  /** Completed releases that say nodes of the inventory should run it: how many each. */
  desired: ReleaseUses
  /** Releases a rollback of which would send nodes back to it: how many each. */
  rollback: ReleaseUses
  /** Nodes a command carrying it is queued for, or that have yet to tell about a withdrawn one. */
  commands: number
}

/** Releases listed per reason in {@link VersionUse} (the API's `details`). */
const MAX_LISTED = 20
/** Releases named per reason in the refusal's message. */
const MAX_NAMED = 3

/** States of a node a rollback leaves alone (`revert.ts`): nothing to send it back from. */
const NOT_REVERTED: ReadonlySet<string> = new Set(['waiting', 'withdrawn', 'reverted', 'reverting'])

/** The version of `r` that node state `rn` gets: its A/B side's. */
const sideVersion = (r: Release, rn: Pick<ReleaseNode, 'variant'>): number =>
  rn.variant === 'B' && r.ab !== undefined ? r.ab.version : r.version

/** What uses `resource` v`version` in `state` (see the module comment). */
export function versionUse(state: TrackerState, resource: string, version: number): VersionUse {
  const { inventory, releases, outbox } = state
  let running = 0
  /** Nodes a command of it is out to (queued, or withdrawn and not yet told about). */
  const out = new Set<string>()
  const desiredBy = new Map<string, number>()
  for (const node of inventory.nodes.values()) {
    if (releases.currentOf(node.id, resource)?.version === version) running++
    const d = desiredVersions(state, node.id, resource).get(resource)
    if (d?.version === version) desiredBy.set(d.releaseId, (desiredBy.get(d.releaseId) ?? 0) + 1)
    for (const e of outbox.entriesOf(node.id)) {
      const { op, resource: res, version: v } = e.cmd
      if (res === resource && v === version && (op === 'place' || op === 'activate')) {
        out.add(node.id)
        break
      }
    }
  }
  const live: ReleaseUse[] = []
  const desired: ReleaseUse[] = []
  const rollback: ReleaseUse[] = []
  for (const r of releases.ofResource(resource)) {
    const nodes = releases.nodes.get(r.id)?.values() ?? []
    const carries = r.version === version || r.ab?.version === version
    const revertible = r.status !== 'rolled_back' && r.compacted === undefined
    let side = 0
    let reverts = 0
    for (const rn of nodes) {
      if (rn.deletedAt !== undefined || !inventory.nodes.has(rn.nodeId)) continue
      if (carries && sideVersion(r, rn) === version) {
        side++
        // withdrawn by an abort; the node's next hello tells whether it held it
        if (rn.state === 'withdrawn' && rn.withdrawnSeq !== undefined && rn.cmdId !== undefined)
          out.add(rn.nodeId)
      }
      if (revertible && rn.prev?.version === version && !NOT_REVERTED.has(rn.state)) reverts++
    }
    if (carries && (r.status === 'running' || r.status === 'paused'))
      live.push({ id: r.id, status: r.status, nodes: side })
    const should = desiredBy.get(r.id)
    if (should !== undefined) desired.push({ id: r.id, status: r.status, nodes: should })
    if (reverts > 0) rollback.push({ id: r.id, status: r.status, nodes: reverts })
  }
  const uses = (list: ReleaseUse[]): ReleaseUses => ({
    total: list.length,
    releases: list.slice(0, MAX_LISTED),
  })
  return { running, live: uses(live), desired: uses(desired), rollback: uses(rollback), commands: out.size }
}

/** Whether nothing uses the version. */
export function unused(u: VersionUse): boolean {
  return u.running + u.live.total + u.desired.total + u.rollback.total + u.commands === 0
}

/** What `GET …/versions/:version/usage` answers: whether a removal would be taken now, and why not. */
export interface VersionUsage {
  resource: string
  version: number
  status: VersionRecord['status']
  /** A removal now would be refused with `ERR_VERSION_IN_USE` (never for a removed version). */
  inUse: boolean
  /** Why, as the refusal would say it; absent when not in use. */
  message?: string
  details: VersionUse
}

/**
 * What uses `resource` v`version` now, judged as a removal would be (on the writers' state,
 * which holds the commands queued). Throws `NotFoundError` for a version never registered.
 */
export function versionUsage(state: TrackerState, resource: string, version: number): VersionUsage {
  const v = state.catalog.get(resource, version)
  const details = versionUse(state, resource, version)
  const inUse = v.status !== 'removed' && !unused(details)
  return {
    resource,
    version,
    status: v.status,
    inUse,
    ...(inUse ? { message: whyInUse(details) } : {}),
    details,
  }
}

/**
 * Removes `resource` v`version` in `tx` (a tombstone, `Catalog.remove`), or returns it if it
 * was removed already. Throws `NotFoundError` for a version never registered, and
 * {@link VersionInUseError}, changing nothing, while it is in use.
 */
export function removeVersion(state: TrackerState, tx: Tx, resource: string, version: number): VersionRecord {
  const old = state.catalog.get(resource, version)
  if (old.status === 'removed') return old
  const use = versionUse(state, resource, version)
  if (!unused(use)) throw new VersionInUseError(resource, version, whyInUse(use), use)
  return state.catalog.remove(tx, resource, version)
}

/** `n thing(s)`. */
const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`

/** The first few releases of `u`, `id (status, n nodes)`, then how many more. */
function named(u: ReleaseUses): string {
  const list = u.releases.slice(0, MAX_NAMED).map((r) => `${r.id} (${r.status}, ${count(r.nodes, 'node')})`)
  const more = u.total - Math.min(u.total, MAX_NAMED)
  return `${u.total === 1 ? 'release' : 'releases'} ${list.join(', ')}${more > 0 ? ` and ${more} more` : ''}`
}

/** Nodes over every release of `u`. */
const nodesOf = (u: ReleaseUses): number => u.releases.reduce((n, r) => n + r.nodes, 0)

/** Why a version is in use and what to do first, for a person: bounded, whatever the counts. */
export function whyInUse(u: VersionUse): string {
  const why: string[] = []
  const todo: string[] = []
  if (u.running > 0) why.push(`${count(u.running, 'node')} run it`)
  if (u.live.total > 0) {
    why.push(`${named(u.live)} ${u.live.total === 1 ? 'is' : 'are'} releasing it`)
    todo.push('let the release finish or abort it')
  }
  if (u.desired.total > 0) {
    const n = u.desired.total > MAX_LISTED ? 'nodes' : count(nodesOf(u.desired), 'node')
    why.push(`it is what ${n} should run, by ${named(u.desired)}`)
  }
  if (u.running > 0 || u.desired.total > 0)
    todo.push('release another version to those nodes (or roll back the release that sent it)')
  if (u.rollback.total > 0) {
    why.push(`it is the rollback target of ${named(u.rollback)}`)
    todo.push(
      "wait until that release is compacted (the tracker's --release-retention), or compact it now (POST /releases/<id>/compact, dandelion release compact <id>): it can no longer be rolled back then",
    )
  }
  if (u.commands > 0) {
    why.push(`a command carrying it is still out to ${count(u.commands, 'node')}`)
    todo.push('wait until those nodes have answered (or delete the nodes gone for good)')
  }
  return `${why.join('; ')}. First ${todo.join('; ')}.`
}
