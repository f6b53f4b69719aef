/**
 * ed25519 signatures with `node:crypto` (synchronous) for keys kept in libp2p's format: a
 * signer is named by its PeerId, which carries its public key, so a verifier needs nothing
 * but that string. Used for the tracker's channel signatures and for upload grants.
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { InvalidConfigError } from './errors.ts'

const SIGNATURE_BYTES = 64

/** Signs with an ed25519 libp2p key; `id` is its PeerId. */
export class Ed25519Signer {
  readonly id: string
  private readonly key: KeyObject

  /** @throws InvalidConfigError if the key is not ed25519 */
  constructor(privateKey: PrivateKey, what = 'the key') {
    if (privateKey.type !== 'Ed25519') throw new InvalidConfigError(`${what} must be ed25519`)
    this.id = peerIdFromPrivateKey(privateKey).toString()
    // libp2p's raw ed25519 private key is the 32-byte seed followed by the public key
    this.key = createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'Ed25519',
        d: Buffer.from(privateKey.raw.subarray(0, 32)).toString('base64url'),
        x: Buffer.from(privateKey.publicKey.raw).toString('base64url'),
      },
      format: 'jwk',
    })
  }

  /** The signature of `bytes`, base64url. */
  sign(bytes: Uint8Array): string {
    return sign(null, bytes, this.key).toString('base64url')
  }
}

/** Checks signatures made by the ed25519 PeerId `id`. */
export class Ed25519Verifier {
  readonly id: string
  private readonly key: KeyObject

  /** @throws InvalidConfigError naming `what` (and `hint`) if `id` is not an ed25519 PeerId */
  constructor(id: string, what: string, hint?: string) {
    this.id = id
    this.key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(ed25519KeyOf(id, what, hint)).toString('base64url') },
      format: 'jwk',
    })
  }

  /** True if `signature` (base64url) is this signer's over `bytes`. */
  verify(bytes: Uint8Array, signature: string): boolean {
    const s = Buffer.from(signature, 'base64url')
    if (s.length !== SIGNATURE_BYTES) return false
    try {
      return verify(null, bytes, this.key, s)
    } catch {
      return false
    }
  }
}

/** The raw public key of an ed25519 PeerId; throws a clear error naming `what` for anything else. */
function ed25519KeyOf(id: string, what: string, hint?: string): Uint8Array {
  try {
    const key = peerIdFromString(id).publicKey
    if (key?.type === 'Ed25519') return key.raw
  } catch {}
  throw new InvalidConfigError(
    `${what} ${JSON.stringify(id.slice(0, 80))} is not an ed25519 PeerId${hint === undefined ? '' : ` (${hint})`}`,
  )
}

/** True if `id` is an ed25519 PeerId (for config validation). */
export function isEd25519PeerId(id: string): boolean {
  try {
    ed25519KeyOf(id, 'id')
    return true
  } catch {
    return false
  }
}
