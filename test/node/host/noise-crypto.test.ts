import { KeyObject, randomBytes } from 'node:crypto'
import { defaultCrypto } from '@libp2p/noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { noiseCrypto, sessionKey } from '../../../node/host/noise-crypto.ts'

const bytes = (b: Uint8Array | Uint8ArrayList): Buffer => Buffer.from(b.subarray())
/** The same bytes cut into uneven pieces, as noise hands over a message spanning reads. */
const pieces = (b: Uint8Array): Uint8ArrayList => {
  const list = new Uint8ArrayList()
  for (let at = 0; at < b.byteLength; at += 7_001) list.append(b.subarray(at, at + 7_001))
  return list
}

describe('noise crypto with imported session keys', () => {
  const sizes = [0, 100, 1_199, 1_200, 4_096, 65_519]

  it('seals exactly what noise’s default crypto seals, and each opens the other’s messages', () => {
    const k = randomBytes(32)
    const ad = randomBytes(32)
    for (const size of sizes) {
      const nonce = randomBytes(12)
      const plain = randomBytes(size)
      const ours = noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)
      const theirs = defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)
      expect(bytes(ours)).toEqual(bytes(theirs))
      expect(bytes(noiseCrypto.chaCha20Poly1305Encrypt(pieces(plain), nonce, ad, k))).toEqual(bytes(theirs))
      expect(bytes(noiseCrypto.chaCha20Poly1305Decrypt(bytes(theirs), nonce, ad, k))).toEqual(plain)
      expect(bytes(noiseCrypto.chaCha20Poly1305Decrypt(pieces(bytes(theirs)), nonce, ad, k))).toEqual(plain)
      expect(bytes(defaultCrypto.chaCha20Poly1305Decrypt(bytes(ours), nonce, ad, k))).toEqual(plain)
    }
  })

  it('refuses a message whose ciphertext, tag or associated data was changed', () => {
    const k = randomBytes(32)
    const ad = randomBytes(32)
    const nonce = randomBytes(12)
    const sealed = bytes(noiseCrypto.chaCha20Poly1305Encrypt(randomBytes(20_000), nonce, ad, k))
    const flipped = (at: number): Buffer => {
      const copy = Buffer.from(sealed)
      copy[at] ^= 1
      return copy
    }
    expect(() => noiseCrypto.chaCha20Poly1305Decrypt(flipped(5), nonce, ad, k)).toThrow()
    expect(() => noiseCrypto.chaCha20Poly1305Decrypt(flipped(sealed.byteLength - 1), nonce, ad, k)).toThrow()
    expect(() => noiseCrypto.chaCha20Poly1305Decrypt(pieces(flipped(5)), nonce, ad, k)).toThrow()
    expect(() => noiseCrypto.chaCha20Poly1305Decrypt(sealed, nonce, randomBytes(32), k)).toThrow()
  })

  it('imports each session key once, and again only when its bytes change', () => {
    const k = randomBytes(32)
    const first = sessionKey(k)
    expect(first).toBeInstanceOf(KeyObject)
    expect(sessionKey(k)).toBe(first)
    expect(Buffer.from(first.export())).toEqual(k)
    k[0] ^= 1
    const second = sessionKey(k)
    expect(second).not.toBe(first)
    expect(Buffer.from(second.export())).toEqual(k)
  })

  it('uses a key’s new bytes when the same key array is changed in place', () => {
    const k = randomBytes(32)
    const ad = randomBytes(32)
    const nonce = randomBytes(12)
    const plain = randomBytes(10_000)
    noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)
    k.set(randomBytes(32))
    expect(bytes(noiseCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k))).toEqual(
      bytes(defaultCrypto.chaCha20Poly1305Encrypt(plain, nonce, ad, k)),
    )
  })
})
