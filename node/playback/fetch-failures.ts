/**
 * Fetches that failed before their download could begin, kept for `GET /status`: a
 * manifest signed by a key the node does not trust ends its lookup, its swarm goes, and
 * status showed nothing for it while the node's operator waited. Reported in the shape of
 * a swarm refused for another reason (over quota): a swarm entry with an `error`.
 *
 * One record per node, shared by whoever starts fetches on it (the playback server's
 * `POST /fetch`, the daemon's tracker agent) and the status route that reports them. It
 * sits beside the node, keyed by it, not in the node's swarm table: such a fetch has no
 * swarm, and its failure is what its caller was told.
 */
import type { DandelionNode, NodeStatus, SwarmStatus } from '../index.ts'

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
   * Runs a fetch of `manifestCid` (`node.fetch`, or what wraps it): an earlier failure is
   * forgotten as it starts, and why it fails is recorded, unless its caller gave up.
   */
  async track<T>(manifestCid: string, signal: AbortSignal | undefined, fetch: () => Promise<T>): Promise<T> {
    this.clear(manifestCid)
    try {
      return await fetch()
    } catch (err) {
      if (signal?.aborted !== true) this.record(manifestCid, err)
      throw err
    }
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

const byNode = new WeakMap<DandelionNode, FetchFailures>()

/** The failure record of `node` (created on first use; it goes with the node). */
export function fetchFailures(node: DandelionNode): FetchFailures {
  let failures = byNode.get(node)
  if (failures === undefined) {
    failures = new FetchFailures()
    byNode.set(node, failures)
  }
  return failures
}
