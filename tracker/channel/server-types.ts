/**
 * The command channel server's types: its components and options, the counters it shows on
 * `/metrics`, and what it holds of each connection ({@link Session}). The server is
 * `server.ts`.
 */
import type { WebSocket } from 'ws'
import type { TrackerSigner } from '../../node/agent/tracker-auth.ts'
import type { NodeEvents } from '../node-events.ts'
import type { RolloutEngine } from '../rollout/engine.ts'
import type { TrackerState } from '../state/index.ts'
import type { MembershipSession } from './membership.ts'

/** Components of the channel server. */
export interface ChannelServerComponents {
  state: TrackerState
  engine: () => RolloutEngine
  /** Signs the welcome and the commands with the tracker's key. */
  signer: TrackerSigner
  /** Where a node's enrollment and its channel opening and closing are announced. */
  nodeEvents?: NodeEvents
}

/** Options of the channel server. */
export interface ChannelServerInit {
  /** A shared token a node may present once, at enrollment; none: only issued tokens enroll. */
  enrollmentToken?: string
  /** @default 30000 */
  heartbeatIntervalMs?: number
  /** @default 2000 */
  maxPendingHandshakes?: number
  /** @default 5000 */
  retransmitInitialMs?: number
  /** @default 60000 */
  retransmitMaxMs?: number
  /**
   * How often connected nodes' membership statements are checked against the inventory (a
   * node moved gets a new one at the next check). @default 10000
   */
  membershipCheckIntervalMs?: number
}

/** One connection, from its challenge on; a node's once its hello checked out. */
export interface Session {
  ws: WebSocket
  nonce: string
  nodeId?: string
  /** The node's PeerId, once its hello checked out (commands are signed for it). */
  peerId?: string
  helloTimer?: NodeJS.Timeout
  /** Answered the last heartbeat ping. */
  alive: boolean
  /**
   * The hello named `node-commands` (`NODE_COMMANDS_FEATURE`): a command about the node as a
   * whole (`scrub`) goes to it without resource fields; to an older agent, with the
   * placeholders it requires (`LEGACY_NODE_COMMAND_FIELDS`).
   */
  nodeCommands?: boolean
  /** Set once welcomed if the hello named the membership feature: what it was last stated. */
  membership?: MembershipSession
}

/** Counters exposed on `/metrics`. */
export interface ChannelStats {
  connected: number
  sent: number
  retransmits: number
  acks: number
  outcomes: number
  authFailures: number
}
