/**
 * How long the origin keeps versions, applied by a periodic sweep through the same removal
 * as `DELETE /resources/:name/versions/:version` (its checks included: with a tracker, the
 * tracker's consent):
 *
 * - a **private** version (a homework photo a lamp uploaded with an upload grant) is removed
 *   once it is older than `privateRetentionMs`: a child's photo is for the lesson it was
 *   taken in, not for keeping. Private versions are never registered with the tracker, so
 *   nothing else is asked.
 * - with `keepVersions` N, a **public** version older than its resource's newest N is
 *   removed, unless the tracker says a node still uses it (kept, and tried again at the next
 *   sweep). A tracker that cannot be asked ends the public part of that sweep.
 *
 * Both are off when 0. The sweep never runs two at a time.
 */
import { logger } from '@libp2p/logger'
import type { PublishedVersion } from './catalog.ts'
import { TrackerUnavailableError, VersionInUseError } from './errors.ts'
import type { RemovedVersion } from './version-removal.ts'

const log = logger('dandelion:origin:retention')

/** What the origin keeps. */
export interface RetentionPolicy {
  /** Private versions are removed this long after they were published; 0 keeps them. */
  privateRetentionMs: number
  /** Public versions kept per resource, newest first; 0 keeps every one. */
  keepVersions: number
}

/** What one sweep did. */
export interface RetentionSweep {
  removed: RemovedVersion[]
  /** Versions the policy would remove that were kept, and why. */
  kept: Array<{ version: PublishedVersion; reason: string }>
}

/** What a sweep uses. */
export interface RetentionComponents {
  listVersions(): Promise<PublishedVersion[]>
  removeVersion(name: string, version: number): Promise<RemovedVersion>
}

/** The versions `policy` would remove at `now`: private ones first, then public ones oldest first. */
export function dueForRemoval(
  versions: PublishedVersion[],
  policy: RetentionPolicy,
  now: number,
): PublishedVersion[] {
  const due: PublishedVersion[] = []
  if (policy.privateRetentionMs > 0)
    for (const v of versions)
      if (v.private === true && v.createdAt + policy.privateRetentionMs <= now) due.push(v)
  if (policy.keepVersions > 0) {
    const byName = new Map<string, PublishedVersion[]>()
    for (const v of versions) {
      if (v.private === true) continue
      const list = byName.get(v.name) ?? []
      list.push(v)
      byName.set(v.name, list)
    }
    for (const list of byName.values()) {
      list.sort((a, b) => b.version - a.version)
      due.push(...list.slice(policy.keepVersions).reverse())
    }
  }
  return due
}

/** Applies `policy` once. */
export async function sweepRetention(
  components: RetentionComponents,
  policy: RetentionPolicy,
  now = Date.now(),
): Promise<RetentionSweep> {
  const result: RetentionSweep = { removed: [], kept: [] }
  let trackerDown: string | undefined
  for (const v of dueForRemoval(await components.listVersions(), policy, now)) {
    if (trackerDown !== undefined && v.private !== true) {
      result.kept.push({ version: v, reason: trackerDown })
      continue
    }
    try {
      result.removed.push(await components.removeVersion(v.name, v.version))
      log('retention removed %s v%d', v.name, v.version)
    } catch (err) {
      const reason = (err as Error).message
      if (err instanceof TrackerUnavailableError) trackerDown = reason
      else if (!(err instanceof VersionInUseError) && (err as { code?: string }).code !== 'ERR_NOT_FOUND')
        log.error('retention could not remove %s v%d: %s', v.name, v.version, reason)
      result.kept.push({ version: v, reason })
    }
  }
  return result
}
