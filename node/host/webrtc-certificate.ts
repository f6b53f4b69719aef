/**
 * The WebRTC-Direct TLS certificate of a node, derived from its identity key so that it is
 * the same at every start.
 *
 * A WebRTC-Direct address carries the hash of the listener's certificate (`/certhash/…`)
 * and a dialer refuses any other certificate. @libp2p/webrtc makes a new key and
 * certificate at each start unless libp2p has a persistent datastore and keychain, which
 * the host has not, and renews it every 13 days even then. So each restart of a campus
 * node (a power cut, an update) changed its address: every device configured with the old
 * one failed each dial, every 10 s, for good, and never reached the campus again until
 * someone re-typed the address on each device. Derived here from the identity key (kept in
 * the data dir), key and certificate are the same on every start, valid until 2099, and the
 * address with them.
 *
 * Built with node:crypto alone (no X.509 library among our dependencies): the key with HKDF
 * from the identity key, the signature ECDSA P-256/SHA-256 with a nonce derived from the
 * key and the message (like RFC 6979), so the certificate's bytes, and its hash, never
 * change. The dialer checks the certificate only against the certhash (tested with
 * @libp2p/webrtc on both ends: `test/node/host/webrtc-restart.test.ts`).
 */
import { createECDH, createHash, createHmac, createPrivateKey, hkdfSync } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { base64url } from 'multiformats/bases/base64'
import { sha256 } from 'multiformats/hashes/sha2'

/** A certificate as `webRTCDirect({ certificate })` takes it. */
export interface WebRTCDirectCertificate {
  /** PKCS#8 PEM of the certificate's P-256 key. */
  privateKey: string
  /** The certificate, PEM. */
  pem: string
  /** Multibase (base64url) multihash (SHA-256) of the certificate's DER, as in `/certhash/`. */
  certhash: string
}

/** Order of the P-256 group. */
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
const INFO = 'dandelion/webrtc-direct-certificate/1'

/** The certificate (and its key) of the node whose identity key is `identity`. */
export async function webRTCDirectCertificate(identity: PrivateKey): Promise<WebRTCDirectCertificate> {
  // 48 bytes reduced mod N-1, plus 1: a scalar in [1, N-1] with negligible bias
  const d = (toBigInt(hkdfSync('sha256', identity.raw, new Uint8Array(0), INFO, 48)) % (N - 1n)) + 1n
  const dBytes = toBytes32(d)
  const ecdh = createECDH('prime256v1')
  ecdh.setPrivateKey(dBytes)
  const point = ecdh.getPublicKey() // 0x04 ‖ x ‖ y
  const spki = der(
    0x30,
    der(0x30, hex('06072a8648ce3d0201'), hex('06082a8648ce3d030107')),
    der(0x03, new Uint8Array([0]), point),
  )
  const ecdsaWithSha256 = der(0x30, hex('06082a8648ce3d040302'))
  const name = der(0x30, der(0x31, der(0x30, hex('0603550403'), der(0x0c, utf8('dandelion')))))
  const tbs = der(
    0x30,
    der(0xa0, integer(2n)), // v3
    integer(1n),
    ecdsaWithSha256,
    name,
    der(0x30, der(0x17, utf8('200101000000Z')), der(0x18, utf8('20991231235959Z'))),
    name,
    spki,
    // basicConstraints, critical, not a CA (as @libp2p/webrtc's own certificates)
    der(0xa3, der(0x30, der(0x30, hex('0603551d13'), hex('0101ff'), der(0x04, der(0x30))))),
  )
  const { r, s } = sign(d, dBytes, createHash('sha256').update(tbs).digest())
  const cert = der(
    0x30,
    tbs,
    ecdsaWithSha256,
    der(0x03, new Uint8Array([0]), der(0x30, integer(r), integer(s))),
  )
  const privateKey = createPrivateKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: 'P-256',
      d: Buffer.from(dBytes).toString('base64url'),
      x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
      y: Buffer.from(point.subarray(33, 65)).toString('base64url'),
    },
  })
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pem: pem('CERTIFICATE', cert),
    certhash: base64url.encode((await sha256.digest(cert)).bytes),
  }
}

/** ECDSA over P-256 with a nonce derived from the key and the digest: the same inputs, the same signature. */
function sign(d: bigint, dBytes: Uint8Array, digest: Uint8Array): { r: bigint; s: bigint } {
  const z = toBigInt(digest) % N
  for (let counter = 0; ; counter++) {
    const k =
      (toBigInt(
        createHmac('sha512', dBytes)
          .update(digest)
          .update(new Uint8Array([counter]))
          .digest(),
      ) %
        (N - 1n)) +
      1n
    const ecdh = createECDH('prime256v1')
    ecdh.setPrivateKey(toBytes32(k))
    const r = toBigInt(ecdh.getPublicKey().subarray(1, 33)) % N
    if (r === 0n) continue
    const s = (modPow(k, N - 2n, N) * ((z + r * d) % N)) % N
    if (s !== 0n) return { r, s }
  }
}

function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n
  let b = base % mod
  for (let e = exp; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % mod
    b = (b * b) % mod
  }
  return result
}

function toBigInt(bytes: ArrayBuffer | Uint8Array): bigint {
  const hexText = Buffer.from(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)).toString('hex')
  return hexText === '' ? 0n : BigInt(`0x${hexText}`)
}

function toBytes32(n: bigint): Uint8Array {
  return Buffer.from(n.toString(16).padStart(64, '0'), 'hex')
}

/** A DER INTEGER: big-endian, minimal, a leading 0 when the top bit is set. */
function integer(n: bigint): Uint8Array {
  let h = n.toString(16)
  if (h.length % 2 === 1) h = `0${h}`
  if (Number.parseInt(h.slice(0, 2), 16) >= 0x80) h = `00${h}`
  return der(0x02, Buffer.from(h, 'hex'))
}

/** A DER element: tag, definite length, contents. */
function der(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = Buffer.concat(parts)
  const n = body.byteLength
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff]
  return Buffer.concat([new Uint8Array([tag, ...length]), body])
}

function hex(text: string): Uint8Array {
  return Buffer.from(text, 'hex')
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

function pem(label: string, bytes: Uint8Array): string {
  const lines =
    Buffer.from(bytes)
      .toString('base64')
      .match(/.{1,64}/g) ?? []
  return [`-----BEGIN ${label}-----`, ...lines, `-----END ${label}-----`].join('\n')
}
