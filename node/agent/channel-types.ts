/**
 * The public shapes of the agent's tracker channel: what it uses of the node, the agent's
 * options it follows, and what it tells the agent. The implementation is `channel.ts`.
 */
import type { PrivateKey } from '@libp2p/interface'
import type { SignedMembership } from '../membership.ts'
import type { AgentInit } from './index.ts'
import type { Journal } from './journal.ts'
import type { Command } from './protocol.ts'

/** What the channel uses of the node. */
export interface TrackerChannelComponents {
  /** The node's libp2p key: its PeerId is its identity on the channel. */
  privateKey: PrivateKey
  /** The PeerId of `privateKey`. */
  peerId: string
  journal: Journal
}

/** The agent's options the channel follows, defaults applied (see `AgentInit`). */
export type TrackerChannelInit = Required<
  Pick<
    AgentInit,
    'trackers' | 'reconnectInitialMs' | 'reconnectMaxMs' | 'handshakeTimeoutMs' | 'silenceTimeoutMs'
  >
> &
  Pick<AgentInit, 'enrollment' | 'version'> & {
    /** Trackers named in the config (see `AgentInit.trackerIds`); none: the journal's pin. */
    trackerIds?: ReadonlySet<string>
  }

/** What the channel tells the agent. */
export interface TrackerChannelEvents {
  /** Welcomed; `features`: what the tracker's welcome named (absent: an older tracker). */
  connected(e: { url: string; nodeId: string; features?: readonly string[] }): void
  disconnected(e: { url: string; code: number; reason: string }): void
  refused(e: { code: string; message: string }): void
  /** A command the tracker signed for this node; the next frame waits until it resolves. */
  command(cmd: Command): Promise<void>
  /** A campus membership statement about this node, signed by the tracker of this connection. */
  membership(m: SignedMembership): void
}
