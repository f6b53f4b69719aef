/**
 * Noise's crypto with each session key imported once.
 *
 * `@libp2p/noise` seals and opens every message (up to 64 KiB, 16 or more per MiB moved)
 * with `crypto.createCipheriv` / `createDecipheriv` and the session key as raw bytes. On
 * Node 24 those calls first ask whether the key is a `KeyObject` and then whether it is a
 * `CryptoKey`, and for raw bytes each question is answered by throwing and catching an
 * exception: 13–14% of the main thread's time in a transfer (CPU profile of the transfer
 * bench, `getKeyObjectSlots` and `getSlots`). Here each key is imported once as a
 * `KeyObject`, which both questions answer without throwing, and a sealed message is
 * returned as its ciphertext and tag side by side instead of copied into one buffer.
 * Same AEAD (Node's ChaCha20-Poly1305), same bytes on the wire; everything else (the
 * handshake, small messages under 1200 bytes) is noise's default crypto.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@libp2p/noise'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

const ALGORITHM = 'chacha20-poly1305'
const TAG_BYTES = 16
/** Below this, noise's default seals with its WebAssembly ChaCha20 (faster for small messages). */
const SMALL_MESSAGE_BYTES = 1200

interface ImportedKey {
  /** The key's bytes when imported, so a key changed in place is imported again. */
  bytes: Uint8Array
  key: KeyObject
}

/** One per session key: noise keeps the same key array for the life of a cipher state. */
const imported = new WeakMap<Uint8Array, ImportedKey>()

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false
  return true
}

/** The `KeyObject` of a session key, imported on first use. */
export function sessionKey(k: Uint8Array): KeyObject {
  const known = imported.get(k)
  if (known !== undefined && sameBytes(known.bytes, k)) return known.key
  const entry = { bytes: Uint8Array.prototype.slice.call(k), key: createSecretKey(k) }
  imported.set(k, entry)
  return entry.key
}

/** Noise's default crypto, with ChaCha20-Poly1305 on imported session keys. */
export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
    if (plaintext.byteLength < SMALL_MESSAGE_BYTES)
      return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const cipher = createCipheriv(ALGORITHM, sessionKey(k), nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const out = new Uint8ArrayList()
    if (plaintext instanceof Uint8Array) out.append(cipher.update(plaintext))
    else for (const buf of plaintext) out.append(cipher.update(buf))
    const final = cipher.final()
    if (final.byteLength > 0) out.append(final)
    out.append(cipher.getAuthTag())
    return out
  },
  chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < SMALL_MESSAGE_BYTES)
      return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    const end = ciphertext.byteLength - TAG_BYTES
    const decipher = createDecipheriv(ALGORITHM, sessionKey(k), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(ad, { plaintextLength: end })
    decipher.setAuthTag(ciphertext.subarray(end))
    // Node's decipher writes into buffers of its own, so `dst` (noise's offer of the
    // ciphertext's space to decrypt in place) goes unused, as in noise's own Node crypto
    if (ciphertext instanceof Uint8Array) {
      const output = decipher.update(ciphertext.subarray(0, end))
      const final = decipher.final()
      return final.byteLength > 0 ? Buffer.concat([output, final]) : output
    }
    const output = new Uint8ArrayList()
    for (const buf of ciphertext.sublist(0, end)) output.append(decipher.update(buf))
    const final = decipher.final()
    if (final.byteLength > 0) output.append(final)
    return output
  },
}
