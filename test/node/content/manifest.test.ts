import * as dagCbor from '@ipld/dag-cbor'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { describe, expect, it } from 'vitest'
import {
  chunkCid,
  createManifest,
  decodeManifest,
  type ManifestFields,
  verifyManifest,
} from '../../../node/content/index.ts'
import {
  InvalidManifestError,
  ManifestSignatureError,
  UnsupportedManifestVersionError,
} from '../../../node/errors.ts'

const MiB = 1024 * 1024

function fields(overrides: Partial<ManifestFields> = {}): ManifestFields {
  return {
    name: 'grade3-math-07',
    type: 'video',
    mime: 'video/mp4',
    size: 2 * MiB + 10,
    chunkSize: MiB,
    chunks: [chunkCid(new Uint8Array([1])), chunkCid(new Uint8Array([2])), chunkCid(new Uint8Array([3]))],
    createdAt: 1_700_000_000_000,
    ...overrides,
  }
}

describe('manifest', () => {
  it('encodes deterministically and verifies against the signing origin', async () => {
    const key = await generateKeyPair('Ed25519')
    const a = await createManifest(fields(), key)
    const b = await createManifest(fields(), key)
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(true)
    expect(a.cid.toString()).toBe(b.cid.toString())
    expect(a.cid.code).toBe(0x71)
    const m = await verifyManifest(a.bytes, { cid: a.cid, trustedKeys: [key.publicKey] })
    expect(m.name).toBe('grade3-math-07')
    expect(m.chunks.map(String)).toEqual(fields().chunks.map(String))
    expect(m.origin.equals(key.publicKey)).toBe(true)
  })

  it('rejects a manifest signed by an untrusted key, a bad signature and a CID mismatch', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const m = await createManifest(fields(), key)
    await expect(verifyManifest(m.bytes, { trustedKeys: [other.publicKey] })).rejects.toThrow(
      ManifestSignatureError,
    )
    const raw = dagCbor.decode(m.bytes) as Record<string, unknown>
    const tampered = dagCbor.encode({ ...raw, name: 'other-name' })
    await expect(verifyManifest(tampered)).rejects.toThrow(ManifestSignatureError)
    const wrong = (await createManifest(fields({ name: 'x' }), key)).cid
    await expect(verifyManifest(m.bytes, { cid: wrong })).rejects.toThrow(InvalidManifestError)
  })

  it('rejects unknown versions, wrong sizes, bad chunk counts and garbage with typed errors', async () => {
    const key = await generateKeyPair('Ed25519')
    const m = await createManifest(fields(), key)
    const raw = dagCbor.decode(m.bytes) as Record<string, unknown>
    expect(() => decodeManifest(dagCbor.encode({ ...raw, version: 2 }))).toThrow(
      UnsupportedManifestVersionError,
    )
    expect(() => decodeManifest(dagCbor.encode({ ...raw, size: -1 }))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(dagCbor.encode({ ...raw, size: 5 * MiB }))).toThrow(/does not add up/)
    expect(() => decodeManifest(dagCbor.encode({ ...raw, chunkSize: 1000 }))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(dagCbor.encode({ ...raw, type: 'movie' }))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(dagCbor.encode({ ...raw, extra: 1 }))).toThrow(InvalidManifestError)
    expect(() => decodeManifest(new Uint8Array([0xff, 0x00, 0x13]))).toThrow(InvalidManifestError)
    await expect(createManifest(fields({ chunks: [] }), key)).rejects.toThrow(InvalidManifestError)
  })
})
