/**
 * A {@link DandelionNode}'s health as the agent reports it to its tracker
 * (`health-protocol.ts`): what its `status()` says of its store, scrubbing, connections and
 * origin fallback, and what its store says of its disk.
 */
import type { DandelionNode, NodeStatus } from '../index.ts'
import type { StoreDisk } from '../store/index.ts'
import type { NodeHealth } from './protocol.ts'

/** Bytes as a report carries them: a whole number ≥ 0, `null` when unknown (`NaN`) or unlimited. */
const bytesOrNull = (n: number): number | null => (Number.isFinite(n) ? Math.max(0, Math.floor(n)) : null)

/** The health of a node whose status is `status` and whose store's disk is `disk`, measured `at`. */
export function healthOf(status: NodeStatus, disk: StoreDisk | undefined, at = Date.now()): NodeHealth {
  const { store, scrub, origin } = status
  return {
    measuredAt: at,
    store: {
      chunks: store.chunks,
      bytes: store.bytes,
      pinnedBytes: store.pinnedBytes,
      quotaBytes: bytesOrNull(store.quotaBytes),
      ...(store.limitBytes === undefined ? {} : { limitBytes: Math.max(0, Math.floor(store.limitBytes)) }),
      refusedWrites: store.refusedWrites,
    },
    ...(disk === undefined
      ? {}
      : { disk: { freeBytes: bytesOrNull(disk.freeBytes()), minFreeBytes: disk.minFreeBytes } }),
    ...(scrub === undefined
      ? {}
      : {
          scrub: {
            running: scrub.running,
            ...(scrub.lastPassEndedAt === undefined ? {} : { lastPassEndedAt: scrub.lastPassEndedAt }),
            corruptFound: scrub.corruptFound,
            totalCorruptFound: scrub.totals.corruptFound,
            readErrors: scrub.readErrors,
          },
        }),
    corruptChunks: status.totals.corruptChunks,
    connections: status.connections,
    ...(origin === undefined ? {} : { origin: { consecutiveFailures: origin.consecutiveFailures } }),
  }
}

/** The health of `node` now. */
export function nodeHealth(node: DandelionNode): NodeHealth {
  return healthOf(node.status(), node.store.disk)
}
