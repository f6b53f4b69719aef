/**
 * werift's DTLS does its X25519 key exchange with tweetnacl, in pure JavaScript: in a profile
 * of 60 parallel joins its field multiplication was the largest single self-time entry (8 %).
 * This swaps tweetnacl's `box.keyPair` and `scalarMult` (as resolved from werift, so only the
 * copy werift uses) for Node's native X25519 — after checking on a random key pair that both
 * give the same shared secret. Without that agreement nothing is changed.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync } from 'node:crypto'
import { createRequire } from 'node:module'

// DER prefixes of X25519 keys (RFC 8410): PKCS#8 private and SPKI public, followed by 32 raw bytes
const PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex')
const SPKI = Buffer.from('302a300506032b656e032100', 'hex')

interface Nacl {
  scalarMult: ((n: Uint8Array, p: Uint8Array) => Uint8Array) & Record<string, unknown>
  box: { keyPair: (() => { publicKey: Uint8Array; secretKey: Uint8Array }) & Record<string, unknown> }
  __dandelionNativeX25519?: boolean
}

function nativeScalarMult(n: Uint8Array, p: Uint8Array): Uint8Array {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8, n]), format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI, p]), format: 'der', type: 'spki' })
  return new Uint8Array(diffieHellman({ privateKey, publicKey }))
}

function nativeKeyPair(): { publicKey: Uint8Array; secretKey: Uint8Array } {
  const { publicKey, privateKey } = generateKeyPairSync('x25519')
  // copies, so that `.buffer` is exactly the 32 key bytes (werift reads it)
  const pub = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(-32))
  const sec = new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32))
  return { publicKey: pub, secretKey: sec }
}

/** Installs native X25519 into werift's tweetnacl; returns whether it is in use. */
export function useNativeX25519(): boolean {
  let nacl: Nacl
  try {
    nacl = createRequire(import.meta.resolve('werift'))('tweetnacl') as Nacl
  } catch {
    return false
  }
  if (nacl.__dandelionNativeX25519 === true) return true
  try {
    const a = nacl.box.keyPair()
    const b = nativeKeyPair()
    const viaNacl = Buffer.from(nacl.scalarMult(b.secretKey, a.publicKey))
    const viaNative = Buffer.from(nativeScalarMult(a.secretKey, b.publicKey))
    const check = Buffer.from(nativeScalarMult(b.secretKey, a.publicKey))
    if (!viaNacl.equals(viaNative) || !viaNacl.equals(check)) return false
  } catch {
    return false
  }
  nacl.scalarMult = Object.assign(nativeScalarMult, nacl.scalarMult)
  nacl.box.keyPair = Object.assign(nativeKeyPair, nacl.box.keyPair)
  nacl.__dandelionNativeX25519 = true
  return true
}
