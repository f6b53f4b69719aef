/**
 * A node's status (`DandelionNode.status()`, `GET /status`), read from its parts: who and
 * where it is, its connections and bans, each swarm's progress, counters and peers, its
 * limits, its store's usage and scrubbing, and the origin fallback's health, with the fetches
 * that failed before their download began.
 */
import type { NodeStatus } from './index.ts'
import { membershipStatus } from './membership-file.ts'
import type { NodeComponents } from './node-components.ts'

/** The parts of a node {@link nodeStatus} reads. */
export type NodeStatusComponents = Pick<
  NodeComponents,
  'libp2p' | 'locality' | 'bans' | 'network' | 'totals' | 'limiter' | 'store' | 'webSeed' | 'fetchFailures'
>

/** The node's status now; `role` as the node was given it, `playbackUrl` once its player server runs. */
export function nodeStatus(
  c: NodeStatusComponents,
  node: {
    role: NodeStatus['role']
    playbackUrl?: string
    scrub?: NodeStatus['scrub']
    originSchedule?: NodeStatus['originSchedule']
  },
): NodeStatus {
  const { locality } = c
  return c.fetchFailures.report({
    peerId: c.libp2p.peerId.toString(),
    role: node.role,
    ...locality.place(),
    membership: membershipStatus(locality.statement()),
    multiaddrs: c.libp2p.getMultiaddrs().map((a) => a.toString()),
    connections: c.libp2p.getConnections().length,
    bannedPeers: c.bans.size,
    swarms: [...c.network.swarms.values()].map((s) => ({
      ...s.progress(),
      ...s.stats,
      name: s.manifest?.name,
      complete: s.complete,
      error: s.failure?.message,
      peers: [...s.sessions.values()].map((p) => ({
        peer: p.peer,
        ...locality.of(p.peer, p.hello),
        role: p.hello?.role,
        score: p.score,
      })),
    })),
    totals: { ...c.totals },
    limits: c.limiter.get(),
    store: c.store.usage(),
    origin: c.webSeed?.status(),
    playbackUrl: node.playbackUrl,
    scrub: node.scrub,
    originSchedule: node.originSchedule,
  })
}
