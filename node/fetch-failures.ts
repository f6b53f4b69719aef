/**
 * Fetches that failed before their download could begin, kept for `status()`: a manifest
 * signed by a key the node does not trust ends its lookup, its swarm goes, and status showed
 * nothing for it while the node's operator waited. Reported in the shape of a swarm refused
 * for another reason (over quota): a swarm entry with an `error`. Owned by the node, which
 * records in `fetch` and reports in `status`, so every caller (`POST /fetch`, the tracker
 * agent, a library user) sees them.
 */
import type { NodeStatus, SwarmStatus } from './index.ts'

/** Failed fetches kept per node; past it the oldest is forgotten. */
const MAX_FETCH_FAILURES = 64

/** Errors that end a fetch before it has a swarm to report them (matched by name). */
const REPORTED = new Set(['UntrustedManifestError'])

/** Fetches of one node that failed before they began, by manifest CID. */
export class FetchFailures {
  private readonly failures = new Map<string, string>()

  /** Records why the fetch of `manifestCid` failed, when status would not show it otherwise. */
  record(manifestCid: string, err: unknown): void {
    if (!REPORTED.has((err as Error)?.name)) return
    this.failures.delete(manifestCid)
    if (this.failures.size >= MAX_FETCH_FAILURES) this.failures.delete(this.failures.keys().next().value!)
    this.failures.set(manifestCid, (err as Error).message)
  }

  /** Forgets a failure: the content is asked for again, or has arrived. */
  clear(manifestCid: string): void {
    this.failures.delete(manifestCid)
  }

  /**
   * `status` with each recorded failure as its swarm's `error`: on the swarm when the node
   * has one for that manifest (a player still waiting on it), on an entry of its own when not.
   */
  report(status: NodeStatus): NodeStatus {
    if (this.failures.size === 0) return status
    const swarms = status.swarms.map((s) => {
      const error = this.failures.get(s.manifestCid)
      return error === undefined || s.error !== undefined ? s : { ...s, error }
    })
    for (const [manifestCid, error] of this.failures) {
      if (swarms.some((s) => s.manifestCid === manifestCid)) continue
      swarms.push(failedSwarm(manifestCid, error))
    }
    return { ...status, swarms }
  }
}

/** The status of a swarm that never began: nothing held, nothing moved. */
function failedSwarm(manifestCid: string, error: string): SwarmStatus {
  return {
    manifestCid,
    chunksDone: 0,
    chunksTotal: 0,
    bytesDone: 0,
    bytesTotal: 0,
    bytesFromPeers: 0,
    bytesFromOrigin: 0,
    bytesUploaded: 0,
    corruptChunks: 0,
    duplicateChunks: 0,
    complete: false,
    error,
    peers: [],
  }
}
