/**
 * The tracker's side of channel authentication. A node proves its identity by signing the
 * tracker's challenge (`authPayload`); this module lets a node check the tracker too:
 *
 * - the challenge names the tracker's ed25519 identity (`trackerId`, a PeerId, kept in the
 *   tracker's `tracker.key`); a node accepts it only if it is the one it was given
 *   (`--tracker-id`) or, without one, the one it met first (pinned in its journal);
 * - the welcome carries the tracker's signature over both sides' nonces and both ids, so
 *   an impostor that cannot sign with that key is refused before the node is "connected";
 * - every command carries the tracker's signature over the node's PeerId and the
 *   command, so nothing injected into a plain `ws://` connection (or replayed to
 *   another node) is ever executed. Replays of a node's own commands are dropped by the
 *   journal's dedup by id.
 *
 * Signing and checking are synchronous (`node:crypto`), so frames stay in order and the
 * tracker signs thousands of commands without awaiting each.
 */
import { randomBytes } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { Ed25519Signer, Ed25519Verifier, isEd25519PeerId } from '../ed25519.ts'
import { MembershipSigner } from '../membership.ts'
import type { Command } from './protocol.ts'

const TRACKER_CONTEXT = 'dandelion/channel/1/tracker\n'
const COMMAND_CONTEXT = 'dandelion/channel/1/cmd\n'

/** A fresh random nonce (base64url, 32 bytes). */
export function newNonce(): string {
  return randomBytes(32).toString('base64url')
}

/** What the welcome's signature covers. */
export interface WelcomeTerms {
  /** The nonce the node sent in its hello. */
  nodeNonce: string
  /** The nonce of the tracker's challenge. */
  trackerNonce: string
  /** The node's PeerId. */
  peerId: string
  /** The node id the tracker welcomes it as. */
  nodeId: string
}

const welcomeBytes = (w: WelcomeTerms): Buffer =>
  Buffer.from(`${TRACKER_CONTEXT}${w.nodeNonce}\n${w.trackerNonce}\n${w.peerId}\n${w.nodeId}`)

/**
 * The bytes of a command a signature covers: every field, in a fixed order, a field left out
 * as `null`. A `scrub` has no field of its own: its op, id and sequence are covered, and so
 * are its resource fields, absent (`null`) or the placeholders an older agent gets
 * (`LEGACY_NODE_COMMAND_FIELDS`): neither can be swapped for the other on the wire. For a
 * command with every resource field (all an older agent takes) these are the bytes an older
 * agent computes, which wrote them as they came.
 */
const commandBytes = (peerId: string, c: Command): Buffer =>
  Buffer.from(
    `${COMMAND_CONTEXT}${peerId}\n${JSON.stringify([
      c.seq,
      c.id,
      c.op,
      c.resource ?? null,
      c.version ?? null,
      c.manifestCid ?? null,
      c.activateAt ?? null,
      c.releaseId ?? null,
    ])}`,
  )

/** Signs welcomes, commands and campus membership statements with the tracker's key. */
export class TrackerSigner {
  /** The tracker's PeerId, as nodes pin it. */
  readonly id: string
  /** Signs the statements of nodes' campus membership (`node/membership.ts`), with the same key. */
  readonly membership: MembershipSigner
  private readonly signer: Ed25519Signer

  constructor(privateKey: PrivateKey) {
    this.signer = new Ed25519Signer(privateKey, 'the tracker key')
    this.id = this.signer.id
    this.membership = new MembershipSigner(this.signer)
  }

  welcome(terms: WelcomeTerms): string {
    return this.signer.sign(welcomeBytes(terms))
  }

  command(peerId: string, cmd: Command): string {
    return this.signer.sign(commandBytes(peerId, cmd))
  }
}

/** Checks a tracker's signatures against its PeerId. */
export class TrackerVerifier {
  readonly id: string
  private readonly verifier: Ed25519Verifier

  /** @throws InvalidConfigError if `trackerId` is not an ed25519 PeerId */
  constructor(trackerId: string) {
    this.verifier = new Ed25519Verifier(
      trackerId,
      'tracker id',
      'the "trackerId" the tracker prints at start',
    )
    this.id = trackerId
  }

  welcome(terms: WelcomeTerms, sig: string): boolean {
    return this.verifier.verify(welcomeBytes(terms), sig)
  }

  command(peerId: string, cmd: Command, sig: string): boolean {
    return this.verifier.verify(commandBytes(peerId, cmd), sig)
  }
}

/** True if `trackerId` is an ed25519 PeerId (for config validation). */
export function isTrackerId(trackerId: string): boolean {
  return isEd25519PeerId(trackerId)
}
