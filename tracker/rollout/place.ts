/** The `place` command a release sends a node: shared by stages, catch-ups, retries and withdrawals. */
import type { ResourceCommand } from '../../node/agent/protocol.ts'
import type { Release, VersionRef } from '../state/index.ts'

/** The fields of the `place` that `r` sends a node of side `variant` (all but `seq` and `id`). */
export function placeFields(r: Release, variant: 'A' | 'B'): Omit<ResourceCommand, 'seq' | 'id'> {
  const v: VersionRef = variant === 'B' && r.ab !== undefined ? r.ab : r
  return {
    op: 'place',
    resource: r.resource,
    version: v.version,
    manifestCid: v.manifestCid,
    activateAt: r.activateAt,
    releaseId: r.id,
  }
}
