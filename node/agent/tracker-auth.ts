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
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign, verify } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { InvalidConfigError } from '../errors.ts'
import type { Command } from './protocol.ts'

const TRACKER_CONTEXT = 'dandelion/channel/1/tracker\n'
const COMMAND_CONTEXT = 'dandelion/channel/1/cmd\n'
const ED25519_SIG_BYTES = 64

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

/** The bytes of a command a signature covers: every field, in a fixed order. */
const commandBytes = (peerId: string, c: Command): Buffer =>
  Buffer.from(
    `${COMMAND_CONTEXT}${peerId}\n${JSON.stringify([
      c.seq,
      c.id,
      c.op,
      c.resource,
      c.version,
      c.manifestCid,
      c.activateAt ?? null,
      c.releaseId ?? null,
    ])}`,
  )

/** Signs welcomes and commands with the tracker's key. */
export class TrackerSigner {
  /** The tracker's PeerId, as nodes pin it. */
  readonly id: string
  private readonly key: KeyObject

  constructor(privateKey: PrivateKey) {
    if (privateKey.type !== 'Ed25519') throw new InvalidConfigError('the tracker key must be ed25519')
    this.id = peerIdFromPrivateKey(privateKey).toString()
    // libp2p's raw ed25519 private key is the 32-byte seed followed by the public key
    const raw = privateKey.raw
    this.key = createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'Ed25519',
        d: Buffer.from(raw.subarray(0, 32)).toString('base64url'),
        x: Buffer.from(privateKey.publicKey.raw).toString('base64url'),
      },
      format: 'jwk',
    })
  }

  welcome(terms: WelcomeTerms): string {
    return sign(null, welcomeBytes(terms), this.key).toString('base64url')
  }

  command(peerId: string, cmd: Command): string {
    return sign(null, commandBytes(peerId, cmd), this.key).toString('base64url')
  }
}

/** Checks a tracker's signatures against its PeerId. */
export class TrackerVerifier {
  readonly id: string
  private readonly key: KeyObject

  /** @throws InvalidConfigError if `trackerId` is not an ed25519 PeerId */
  constructor(trackerId: string) {
    const publicKey = trackerIdKey(trackerId)
    this.id = trackerId
    this.key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey).toString('base64url') },
      format: 'jwk',
    })
  }

  welcome(terms: WelcomeTerms, sig: string): boolean {
    return this.check(welcomeBytes(terms), sig)
  }

  command(peerId: string, cmd: Command, sig: string): boolean {
    return this.check(commandBytes(peerId, cmd), sig)
  }

  private check(bytes: Buffer, sig: string): boolean {
    const s = Buffer.from(sig, 'base64url')
    if (s.length !== ED25519_SIG_BYTES) return false
    try {
      return verify(null, bytes, this.key, s)
    } catch {
      return false
    }
  }
}

/** The raw public key of an ed25519 PeerId; throws a clear error for anything else. */
function trackerIdKey(trackerId: string): Uint8Array {
  try {
    const key = peerIdFromString(trackerId).publicKey
    if (key?.type === 'Ed25519') return key.raw
  } catch {}
  throw new InvalidConfigError(
    `tracker id ${JSON.stringify(trackerId.slice(0, 80))} is not an ed25519 PeerId (the "trackerId" the tracker prints at start)`,
  )
}

/** True if `trackerId` is an ed25519 PeerId (for config validation). */
export function isTrackerId(trackerId: string): boolean {
  try {
    trackerIdKey(trackerId)
    return true
  } catch {
    return false
  }
}
