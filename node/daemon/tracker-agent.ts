/**
 * The daemon's tracker agent: when the config lists trackers, the node runs an agent
 * (`node/agent`) with the node's own libp2p key, so the PeerId the tracker binds at
 * enrollment is the PeerId the swarm sees.
 */
import type { PrivateKey } from '@libp2p/interface'
import { type Agent, type AgentContentApi, createAgent, nodeContentApi } from '../agent/index.ts'
import type { DandelionNode } from '../index.ts'
import type { SignedMembership } from '../membership.ts'
import { DANDELION_VERSION } from '../version.ts'
import type { NodeConfig } from './config-schema.ts'

/** Characters of the PeerId kept in a derived node id (base58 of the key: ~70 bits). */
const NODE_ID_PEER_CHARS = 12

/**
 * The node id used when the config names none: `<campus>-<end of the PeerId>`, stable for
 * a data directory (the key is persistent) and readable in the tracker's inventory.
 */
export function deriveNodeId(campus: string | undefined, peerId: string): string {
  const prefix = (campus ?? 'node').replace(/[^A-Za-z0-9._:-]+/g, '-').slice(0, 100)
  return `${prefix}-${peerId.slice(-NODE_ID_PEER_CHARS)}`
}

/** Components of {@link startTrackerAgent}. */
export interface TrackerAgentComponents {
  node: DandelionNode
  privateKey: PrivateKey
  /** Lines the operator must see (a damaged journal, a stop that gave up waiting): the daemon's stderr. */
  onWarning?: (line: string) => void
  /**
   * The tracker's signed statement of this node's campus and city, each time one comes
   * (the first right after the welcome, so listened to from before the agent starts).
   */
  onMembership?: (signed: SignedMembership) => void
}

/**
 * Creates and starts the agent for a started node; `undefined` when no tracker is
 * configured. The journal lives in `<data>/agent`, so dedup survives a daemon restart.
 */
export async function startTrackerAgent(
  { node, privateKey, onWarning, onMembership }: TrackerAgentComponents,
  config: Readonly<NodeConfig>,
  dir: string,
): Promise<{ agent: Agent; nodeId: string } | undefined> {
  if (config.trackers.length === 0) return undefined
  const nodeId = config.nodeId ?? deriveNodeId(config.campus, node.peerId.toString())
  // the tracker's placements show in the daemon's GET /status like `dandelion fetch`'s,
  // failures before the download began (a manifest signed by an untrusted key) included
  const content: AgentContentApi = nodeContentApi(node)
  const agent = createAgent(
    { content, privateKey },
    {
      trackers: [...config.trackers],
      trackerIds: config.trackerIds.length > 0 ? [...config.trackerIds] : undefined,
      dir,
      onWarning,
      // what the tracker's inventory shows this node runs
      version: DANDELION_VERSION,
      enrollment:
        config.enrollToken === undefined
          ? undefined
          : { token: config.enrollToken, nodeId, campus: config.campus, labels: [...config.labels] },
    },
  )
  if (onMembership !== undefined) agent.on('membership', onMembership)
  await agent.start()
  return { agent, nodeId }
}
