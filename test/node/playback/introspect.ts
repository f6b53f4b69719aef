/**
 * What a node holds for its playback readers, read from its internals: tests count what
 * readers pin (open reads, blocked waiters, listeners on the swarm's signal) to show that
 * players that leave let all of it go.
 */
import { getEventListeners } from 'node:events'
import type { DandelionNode } from '../../../node/index.ts'
import type { Swarm } from '../../../node/swarm/swarm.ts'

/** The internals of one swarm the playback tests count. */
export interface SwarmCounts {
  /** Reads in progress (`Swarm.openReads`): content being played, not evicted. */
  readonly openReads: number
  /** Readers blocked on a chunk (`ChunkWaiters.size`): what the scheduler asks for first. */
  readonly waiting: number
  /** The chunks readers are blocked on. */
  readonly blockedOn: number
  /** Listeners on the swarm's stop signal (each blocked waiter adds one). */
  readonly stopListeners: number
}

interface SwarmPrivates {
  readers: { size: number; blockedOn(): Set<number> }
  abort: AbortController
}

/** The swarm of `manifestCid` on `node` (which must have joined it). */
export function swarmOf(node: DandelionNode, manifestCid: string): Swarm {
  const swarm = (node as unknown as { network: { swarms: Map<string, Swarm> } }).network.swarms.get(
    manifestCid,
  )
  if (swarm === undefined) throw new Error(`no swarm for ${manifestCid}`)
  return swarm
}

/** Live counts of what readers hold on the swarm of `manifestCid`. */
export function swarmInternals(node: DandelionNode, manifestCid: string): SwarmCounts {
  const swarm = swarmOf(node, manifestCid)
  const privates = swarm as unknown as SwarmPrivates
  return {
    get openReads() {
      return swarm.openReads
    },
    get waiting() {
      return privates.readers.size
    },
    get blockedOn() {
      return privates.readers.blockedOn().size
    },
    get stopListeners() {
      return getEventListeners(privates.abort.signal, 'abort').length
    },
  }
}
