/**
 * Proving the tracker at the other end of a channel connection, and this node to it. The
 * tracker's challenge names its key: obeyed only if it is one the config names, or (none
 * named) the one the node pinned on first use. The node answers with its PeerId, a
 * signature of the tracker's nonce and a nonce of its own, which the tracker must sign in
 * its welcome; from then on every command and membership statement on that connection
 * must carry that key's signature.
 */
import type { PrivateKey } from '@libp2p/interface'
import type WebSocket from 'ws'
import { checkMembership } from '../membership.ts'
import type { AgentInit } from './index.ts'
import type { Journal } from './journal.ts'
import { AGENT_FEATURES, authPayload, type NodeFrame, type ServerFrame } from './protocol.ts'
import { isTrackerId, newNonce, TrackerVerifier } from './tracker-auth.ts'

/** What the handshake uses of the node. */
export interface ChannelHandshakeComponents {
  /** The node's libp2p key: its PeerId is its identity on the channel. */
  privateKey: PrivateKey
  /** The PeerId of `privateKey`. */
  peerId: string
  /** Where the tracker met first is pinned, and whether the node has enrolled. */
  journal: Journal
}

/** Options of {@link ChannelHandshake}. */
export interface ChannelHandshakeInit {
  /** Trackers named in the config (see `AgentInit.trackerIds`); none: the journal's pin. */
  trackerIds?: ReadonlySet<string>
  /** Sent in the hello until the tracker has accepted this node once. */
  enrollment?: AgentInit['enrollment']
  /** Sent in every hello (`AgentInit.version`). */
  version?: string
}

/** Why a tracker is refused: a stable code and the words for the log. */
export interface TrackerRefusal {
  code: string
  message: string
}

type Frame<T extends ServerFrame['t']> = Extract<ServerFrame, { t: T }>

/** See the module comment. One per channel: it follows the channel's current connection. */
export class ChannelHandshake {
  private readonly c: ChannelHandshakeComponents
  private readonly init: ChannelHandshakeInit
  /** The tracker met on the current connection, once its challenge named an acceptable key. */
  private link?: { ws: WebSocket; tracker: TrackerVerifier; trackerNonce: string; nodeNonce: string }

  constructor(components: ChannelHandshakeComponents, init: ChannelHandshakeInit = {}) {
    this.c = components
    this.init = init
  }

  /** Answers a tracker's challenge on `ws` with the hello to send, or refuses the tracker. */
  async challenge(ws: WebSocket, f: Frame<'challenge'>): Promise<{ hello: NodeFrame } | TrackerRefusal> {
    const untrusted = this.untrusted(f.trackerId)
    if (untrusted !== undefined) return { code: 'ERR_TRACKER_UNTRUSTED', message: untrusted }
    const link = {
      ws,
      tracker: new TrackerVerifier(f.trackerId),
      trackerNonce: f.nonce,
      nodeNonce: newNonce(),
    }
    this.link = link
    const { journal, peerId } = this.c
    const sig = await this.c.privateKey.sign(authPayload(f.nonce, peerId))
    return {
      hello: {
        t: 'hello',
        peerId,
        sig: Buffer.from(sig).toString('base64url'),
        lastSeq: journal.lastSeq,
        nonce: link.nodeNonce,
        enroll: journal.enrolled ? undefined : this.init.enrollment,
        // a tracker sends what came after the first version only to nodes that name it
        features: [...AGENT_FEATURES],
        ...(this.init.version === undefined ? {} : { version: this.init.version }),
      },
    }
  }

  /**
   * Checks the welcome on `ws` against the challenge answered there; the first tracker that
   * proves its key is pinned when the config names none. Returns why it is refused, if it is.
   */
  async welcome(ws: WebSocket, f: Frame<'welcome'>): Promise<TrackerRefusal | undefined> {
    const link = this.link
    if (link?.ws !== ws) return { code: 'ERR_TRACKER_PROTOCOL', message: 'welcome before challenge' }
    const terms = {
      nodeNonce: link.nodeNonce,
      trackerNonce: link.trackerNonce,
      peerId: this.c.peerId,
      nodeId: f.nodeId,
    }
    if (!link.tracker.welcome(terms, f.sig))
      return {
        code: 'ERR_TRACKER_BAD_SIGNATURE',
        message: `tracker ${link.tracker.id} did not sign its welcome`,
      }
    // trust on first use: the first tracker that proved its key is the one obeyed from now on
    if (this.init.trackerIds === undefined && this.c.journal.trackerId === undefined)
      await this.c.journal.pinTracker(link.tracker.id)
    return undefined
  }

  /** Whether the tracker of `ws` signed this command for this node. */
  signedCommand(ws: WebSocket, f: Frame<'cmd'>): boolean {
    return this.link?.ws === ws && this.link.tracker.command(this.c.peerId, f.cmd, f.sig)
  }

  /**
   * A statement of this node's campus membership, checked: signed by the tracker of `ws`
   * (the key that signed its welcome), about this node's PeerId, in date. Undefined when
   * `ws` is no longer the connection the handshake follows.
   */
  membership(ws: WebSocket, value: unknown): ReturnType<typeof checkMembership> | undefined {
    const link = this.link
    if (link?.ws !== ws) return undefined
    return checkMembership(value, { peerId: this.c.peerId, trusted: new Set([link.tracker.id]) })
  }

  /** Why a tracker with this PeerId is not obeyed, or `undefined` if it is. */
  private untrusted(trackerId: string): string | undefined {
    if (!isTrackerId(trackerId)) return `tracker id ${trackerId.slice(0, 80)} is not an ed25519 PeerId`
    const { trackerIds } = this.init
    if (trackerIds !== undefined)
      return trackerIds.has(trackerId)
        ? undefined
        : `tracker ${trackerId} is not one of the configured tracker ids (${[...trackerIds].join(', ')})`
    const pinned = this.c.journal.trackerId
    return pinned === undefined || pinned === trackerId
      ? undefined
      : `tracker ${trackerId} is not the tracker this node first met (${pinned}); if the tracker's key really changed, name it with --tracker-id`
  }
}
