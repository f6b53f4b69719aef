/**
 * Adapts a {@link DandelionNode} to the {@link AgentContentApi} the agent drives: fetch
 * (with progress in bytes from peers vs origin), pin, unpin, evict and the name table the
 * playback server reads, its health for the tracker, and a scrub pass when the tracker asks.
 */
import type { DandelionNode } from '../index.ts'
import type { AgentContentApi } from './index.ts'
import { nodeHealth } from './node-health.ts'

/** The agent's view of a running node. */
export function nodeContentApi(node: DandelionNode): AgentContentApi {
  return {
    async fetch(manifestCid, options) {
      return await node.fetch(manifestCid, {
        signal: options.signal,
        onProgress: (p) =>
          options.onProgress?.({
            peerBytes: p.bytesFromPeers,
            originBytes: p.bytesFromOrigin,
            totalBytes: p.bytesTotal,
          }),
      })
    },
    pin: (cid) => node.pin(cid),
    unpin: (cid) => node.unpin(cid),
    evict: (cid) => node.evict(cid),
    names: node.names,
    // what the tracker shows of this node's store and disk (`health-protocol.ts`)
    health: () => nodeHealth(node),
    // a node that does not scrub throws ScrubUnavailableError: its message is the reason
    scrub: async ({ signal }) => await untilAborted(node.scrub(), signal),
  }
}

/**
 * `work`'s result, or the abort's reason once `signal` aborts: the agent stops waiting for
 * a pass the node goes on with (its own stop ends it). `work` is never left unhandled.
 */
async function untilAborted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal === undefined) return await work
  work.catch(() => {})
  signal.throwIfAborted()
  const { promise, reject } = Promise.withResolvers<never>()
  const onAbort = (): void => reject(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([work, promise])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
