/**
 * Per resource, what a node runs against what it should run ({@link nodeResources}), as
 * `GET /nodes/:id/resources` shows it, read from the readers' state.
 */
import type { CurrentRef } from '../state/index.ts'
import { type DesiredVersion, desiredVersions, type View } from './desired-versions.ts'

/** What a node runs of one resource against what it should run (`GET /nodes/:id/resources`). */
export interface NodeResourceView {
  resource: string
  /**
   * What it should run, and the release that says so; null if no release covers it. `state`
   * is the node's there, absent if it is no member or the release is `compacted` (its
   * per-node states dropped).
   */
  desired:
    | (DesiredVersion & {
        state?: string
        joinedAt?: number
        compacted?: true
        /** A late member's catch-up attempts, once one failed (`catch-up.ts`). */
        attempts?: number
        /** Why and when its last catch-up attempt failed. */
        lastFailure?: { reason?: string; at: number }
        /** When its next catch-up attempt is due, while it waits for one. */
        retryAt?: number
      })
    | null
  /** What it runs, as last reported active; null if nothing known. */
  running: CurrentRef | null
  /** It runs the desired version (true when nothing is desired). */
  inSync: boolean
}

/** Per resource, what `nodeId` should run and what it runs, from `view` (the readers'). */
export function nodeResources(view: View, nodeId: string): NodeResourceView[] {
  const desired = desiredVersions(view, nodeId)
  const resources = new Set(desired.keys())
  for (const resource of view.releases.resourcesRun())
    if (view.releases.currentOf(nodeId, resource) !== undefined) resources.add(resource)
  return [...resources].sort().map((resource) => {
    const d = desired.get(resource)
    const running = view.releases.currentOf(nodeId, resource) ?? null
    const rn = d === undefined ? undefined : view.releases.nodes.get(d.releaseId)?.get(nodeId)
    const member = rn !== undefined && rn.deletedAt === undefined ? rn : undefined
    const compacted = d !== undefined && member === undefined && view.releases.get(d.releaseId).compacted
    return {
      resource,
      desired:
        d === undefined
          ? null
          : {
              ...d,
              state: member?.state,
              ...(member?.joinedAt ? { joinedAt: member.joinedAt } : {}),
              ...(member?.attempts === undefined ? {} : { attempts: member.attempts }),
              ...(member?.lastFailure === undefined ? {} : { lastFailure: member.lastFailure }),
              ...(member?.retryAt === undefined ? {} : { retryAt: member.retryAt }),
              ...(compacted ? { compacted: true as const } : {}),
            },
      running,
      inSync: d === undefined || (running?.version === d.version && running.manifestCid === d.manifestCid),
    }
  })
}
