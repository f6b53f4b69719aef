/**
 * The tracker ⇄ node command channel protocol, shared by the tracker's channel server
 * and the node's agent (the tracker imports it from here: `node/` never imports `tracker/`).
 *
 * Transport: one WebSocket per node, JSON text frames. Identity: the tracker opens with a
 * random challenge; the node answers with its PeerId and an ed25519 signature over
 * `AUTH_CONTEXT + nonce + peerId` made with its libp2p private key. The PeerId of an
 * ed25519 key embeds the public key, so the tracker verifies without any shared secret.
 * The other way round (`tracker-auth.ts`): the challenge names the tracker's own ed25519
 * PeerId, the node sends a nonce of its own in the hello, and the tracker signs the
 * welcome and every command with its key.
 *
 * Features: a node names in its hello what it takes beyond this protocol's first version
 * (`features`); the tracker sends a newer frame, or field, only to nodes that named it
 * (an agent older than a frame type dropped the connection on it). A tracker ignores the
 * names it does not know, and so hello fields it does not know; an agent ignores a frame
 * type it does not know once welcomed, and fields of a frame it does not know. The other way
 * round, a tracker names in its welcome what it takes beyond the first version (`features`):
 * a tracker closes the connection on a node frame type it does not know, so a node sends a
 * newer frame (`health`, `health-protocol.ts`) only to a tracker whose welcome named it.
 */
import type { SignedMembership } from '../membership.ts'
import {
  type Command,
  isInt,
  isNum,
  isScrubFindings,
  isStr,
  parseCommand,
  type ScrubFindings,
} from './command-protocol.ts'
import { HEALTH_FEATURE, type NodeHealth, parseNodeHealth } from './health-protocol.ts'

export {
  type Command,
  type CommandFields,
  type CommandOp,
  isKnownOp,
  isResourceCommand,
  LEGACY_NODE_COMMAND_FIELDS,
  type NodeCommand,
  type NodeOp,
  parseCommand,
  type ResourceCommand,
  type ResourceOp,
  type ScrubFindings,
} from './command-protocol.ts'
export { HEALTH_FEATURE, HEALTH_INTERVAL_MS, type NodeHealth, parseNodeHealth } from './health-protocol.ts'

/** Protocol identifier, also the WebSocket sub-protocol. */
export const CHANNEL_PROTOCOL = 'dandelion-channel.1'
/** Domain separation prefix of the signed challenge. */
export const AUTH_CONTEXT = 'dandelion/channel/1/auth\n'
/** Largest frame either side accepts. */
export const MAX_FRAME_BYTES = 64 * 1024
/**
 * Longest `reason` of an outcome, in UTF-16 code units (`String.length`). The tracker keeps
 * each node's reason in the release's state: without a bound, 5,000 nodes could each make
 * it hold a frame's worth (64 KiB).
 */
export const MAX_REASON_CHARS = 500

/**
 * Feature a node names in its hello to be sent its campus membership statement
 * (`node/membership.ts`): in the welcome (`membership`) and in `membership` frames.
 */
export const MEMBERSHIP_FEATURE = 'membership'
/**
 * Feature a node names in its hello to be sent commands about the node as a whole
 * ({@link NodeCommand}) in their own shape, without `resource`, `version` and `manifestCid`.
 * An older agent refuses a command without them as a bad frame (it drops the connection,
 * and the replay at the next one drops it again, holding every command after it): to a node
 * that does not name it the tracker sends {@link LEGACY_NODE_COMMAND_FIELDS} instead, which
 * such an agent takes, ACKs and reports failed for an op it does not know.
 */
export const NODE_COMMANDS_FEATURE = 'node-commands'

/** Features of this agent, as its hello names them. */
export const AGENT_FEATURES: readonly string[] = [MEMBERSHIP_FEATURE, HEALTH_FEATURE, NODE_COMMANDS_FEATURE]
/** Features of this tracker, as its welcome names them: the node frames it takes beyond the first version. */
export const TRACKER_FEATURES: readonly string[] = [HEALTH_FEATURE]
/** The longest software version a hello may carry. */
export const MAX_VERSION_CHARS = 64
/** Most features a hello may name, and the longest name. */
export const MAX_FEATURES = 32
const MAX_FEATURE_CHARS = 64

/**
 * Outcome a node reports for a command: `placed` (fetched and pinned, waiting for its
 * activation time), `active` (the resource now serves this version), `done` (a
 * deactivate or evict was applied), `failed` (with a reason). All but `placed` are final.
 */
export type OutcomeStatus = 'placed' | 'active' | 'done' | 'failed'

/** Tracker → node frames. */
export type ServerFrame =
  /** `trackerId`: the tracker's PeerId, whose key signs the welcome and every command. */
  | { t: 'challenge'; nonce: string; trackerId: string }
  /**
   * `sig`: the tracker's signature of the welcome's terms (`TrackerSigner.welcome`).
   * `membership`: the node's campus membership statement, to a node whose hello named
   * {@link MEMBERSHIP_FEATURE}; not shape-checked with the frame: the agent checks it
   * (`checkMembership`) and ignores one that fails, keeping the connection.
   * `features`: the node frames this tracker takes beyond the first version
   * ({@link TRACKER_FEATURES}); absent from an older tracker's welcome, and ignored by an
   * older agent. Not covered by `sig` (an older agent checks the signature over the terms
   * it knows): it only tells the node what it may send, never what to obey, and whoever
   * could rewrite it on the wire could as well drop the connection or the frames.
   */
  | { t: 'welcome'; nodeId: string; sig: string; membership?: SignedMembership; features?: string[] }
  /** `sig`: the tracker's signature of the command for this node (`TrackerSigner.command`). */
  | { t: 'cmd'; cmd: Command; sig: string }
  | { t: 'error'; code: string; message: string }
  /**
   * A new statement of the node's campus membership (it moved, or the last one is a day
   * old), to nodes whose hello named {@link MEMBERSHIP_FEATURE}; checked as the welcome's.
   */
  | { t: 'membership'; membership: SignedMembership }

/**
 * A tracker frame of a type this agent does not know (a newer tracker's), as
 * {@link parseServerFrame} returns it: ignored once welcomed, refused before.
 */
export interface UnknownServerFrame {
  t: 'unknown'
  /** The frame's own `t`. */
  type: string
}

/** Enrollment block of a first `hello`. */
export interface Enrollment {
  token: string
  nodeId: string
  campus?: string
  labels?: string[]
}

/** Node → tracker frames. */
export type NodeFrame =
  /**
   * `nonce`: the node's challenge to the tracker, answered by the welcome's signature.
   * `features`: what the node takes beyond the first version (see the module comment).
   */
  | {
      t: 'hello'
      peerId: string
      sig: string
      lastSeq: number
      nonce?: string
      enroll?: Enrollment
      features?: string[]
      /** The node's software version (the daemon's package version), shown in the tracker's inventory. */
      version?: string
    }
  | { t: 'ack'; seq: number; id: string }
  | { t: 'progress'; id: string; percent: number; peerBytes: number; originBytes: number }
  | {
      t: 'outcome'
      id: string
      status: OutcomeStatus
      reason?: string
      peerBytes?: number
      originBytes?: number
      /** `scrub` done: what the pass found (the reason says it in words too). */
      scrub?: ScrubFindings
    }
  /**
   * The node's health (`health-protocol.ts`), sent only to a tracker whose welcome named
   * {@link HEALTH_FEATURE}: after each welcome, every few minutes, and promptly when
   * something alarming changes.
   */
  | { t: 'health'; health: NodeHealth }

/** Close codes used by the tracker. */
export const CLOSE_CODES = {
  /** Authentication failed: bad signature, unknown node, bad enrollment token, PeerId taken. */
  unauthorized: 4001,
  /** The frame broke the protocol. */
  protocol: 4002,
  /** Another connection of the same node replaced this one. */
  replaced: 4003,
  /** The tracker is shutting down. */
  shutdown: 4004,
  /** Too many connections in their handshake: try again later. */
  busy: 4005,
} as const

/** Bytes a node signs to prove it holds the key of `peerId`. */
export function authPayload(nonce: string, peerId: string): Uint8Array {
  return new TextEncoder().encode(`${AUTH_CONTEXT}${nonce}\n${peerId}`)
}

const STATUSES = new Set<OutcomeStatus>(['placed', 'active', 'done', 'failed'])
/** Parses a frame's JSON object, refusing oversize text, bad JSON and non-objects. */
function decodeFrame(text: string): Record<string, unknown> | undefined {
  if (text.length > MAX_FRAME_BYTES) return undefined
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v)

/** A list of feature names within its bounds (names not known are ignored by whoever reads it). */
const isFeatureList = (v: unknown): v is string[] =>
  Array.isArray(v) && v.length <= MAX_FEATURES && v.every((x) => isStr(x, MAX_FEATURE_CHARS))

/**
 * Decodes and shape-checks a tracker frame (verify before trust): the frame, a frame of a
 * type this agent does not know ({@link UnknownServerFrame}), or undefined for one that is
 * malformed (a known type with bad fields, no type, not JSON).
 */
export function parseServerFrame(text: string): ServerFrame | UnknownServerFrame | undefined {
  const v = decodeFrame(text)
  if (v === undefined) return undefined
  switch (v.t) {
    case 'challenge':
      return isStr(v.nonce, 128) && isStr(v.trackerId, 128) ? (v as ServerFrame) : undefined
    case 'welcome':
      return isStr(v.nodeId) && isStr(v.sig, 256) && (v.features === undefined || isFeatureList(v.features))
        ? (v as ServerFrame)
        : undefined
    case 'cmd':
      return parseCommand(v.cmd) !== undefined && isStr(v.sig, 256) ? (v as ServerFrame) : undefined
    case 'error':
      return typeof v.code === 'string' ? (v as ServerFrame) : undefined
    case 'membership':
      // the statement itself is checked by the agent (`checkMembership`): a bad one is ignored
      return isObject(v.membership) ? (v as ServerFrame) : undefined
    default:
      // a frame of a newer tracker: ignored, but it must have a type to be one
      return isStr(v.t, 64) ? { t: 'unknown', type: v.t } : undefined
  }
}

/** Decodes and shape-checks a node frame (verify before trust). */
export function parseNodeFrame(text: string): NodeFrame | undefined {
  const v = decodeFrame(text)
  if (v === undefined) return undefined
  switch (v.t) {
    case 'hello': {
      if (!isStr(v.peerId, 128) || !isStr(v.sig, 256) || !isInt(v.lastSeq)) return undefined
      if (v.nonce !== undefined && !isStr(v.nonce, 128)) return undefined
      if (v.version !== undefined && !isStr(v.version, MAX_VERSION_CHARS)) return undefined
      // names this tracker does not know are ignored, a list past its bound is refused
      if (v.features !== undefined && !isFeatureList(v.features)) return undefined
      if (v.enroll !== undefined) {
        const e = v.enroll as Record<string, unknown>
        if (typeof e !== 'object' || e === null || !isStr(e.token) || !isStr(e.nodeId, 128)) return undefined
        if (e.campus !== undefined && !isStr(e.campus, 128)) return undefined
        if (e.labels !== undefined && (!Array.isArray(e.labels) || !e.labels.every((l) => isStr(l, 64))))
          return undefined
      }
      return v as NodeFrame
    }
    case 'ack':
      return isInt(v.seq) && isStr(v.id) ? (v as NodeFrame) : undefined
    case 'progress':
      return isStr(v.id) && isNum(v.percent) && isNum(v.peerBytes) && isNum(v.originBytes)
        ? (v as NodeFrame)
        : undefined
    case 'outcome':
      if (!isStr(v.id) || !STATUSES.has(v.status as OutcomeStatus)) return undefined
      // may be empty (an error without a message), never unbounded
      if (v.reason !== undefined && (typeof v.reason !== 'string' || v.reason.length > MAX_REASON_CHARS))
        return undefined
      // Byte counts, when present, MUST be numbers as progress carries them: the tracker adds
      // them up into a release's bytes by source (a string made that sum a string).
      if (v.peerBytes !== undefined && !isNum(v.peerBytes)) return undefined
      if (v.originBytes !== undefined && !isNum(v.originBytes)) return undefined
      if (v.scrub !== undefined && !isScrubFindings(v.scrub)) return undefined
      return v as NodeFrame
    case 'health': {
      // A report MUST be shaped as `health-protocol.ts` says: one that is not is refused as
      // any bad frame is (the connection closed); only its checked copy is kept
      const health = parseNodeHealth(v.health)
      return health === undefined ? undefined : { t: 'health', health }
    }
    default:
      return undefined
  }
}
