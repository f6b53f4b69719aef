/**
 * Adapts a {@link DandelionNode} to the {@link AgentContentApi} the agent drives: fetch
 * (with progress in bytes from peers vs origin), pin, unpin, evict and the name table the
 * playback server reads, and its health for the tracker.
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
  }
}
