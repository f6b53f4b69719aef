import { describe, expect, it } from 'vitest'
import { blake3, chunkCid, parseCid, verifyChunk } from '../../../node/content/index.ts'
import { ChunkHashMismatchError, InvalidCidError } from '../../../node/errors.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

// Official BLAKE3 test vectors (test_vectors.json): input byte i is i % 251.
function vectorInput(len: number): Uint8Array {
  const out = new Uint8Array(len)
  for (let i = 0; i < len; i++) out[i] = i % 251
  return out
}

describe('chunk ids', () => {
  it('hashes with BLAKE3-256 (known vectors)', () => {
    expect(hex(blake3(new Uint8Array(0)))).toBe(
      'af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262',
    )
    expect(hex(blake3(vectorInput(1)))).toBe(
      '2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213',
    )
    expect(hex(blake3(vectorInput(1024)))).toBe(
      '42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7',
    )
  })

  it('builds CIDv1 raw ids with the BLAKE3 multihash code 0x1e', () => {
    const cid = chunkCid(new TextEncoder().encode('hello'))
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x55)
    expect(cid.multihash.code).toBe(0x1e)
    expect(cid.multihash.size).toBe(32)
    expect(parseCid(cid.toString(), 'chunk').equals(cid)).toBe(true)
  })

  it('rejects malformed ids and ids of the wrong kind with typed errors', () => {
    expect(() => parseCid('not-a-cid')).toThrow(InvalidCidError)
    // a sha2-256 CIDv1 raw id is well formed but not ours
    expect(() => parseCid('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy')).toThrow(
      InvalidCidError,
    )
    const cid = chunkCid(new Uint8Array([1, 2, 3]))
    expect(() => parseCid(cid.toString(), 'manifest')).toThrow(InvalidCidError)
  })

  it('verifies bytes against their id', () => {
    const bytes = new Uint8Array([1, 2, 3])
    const cid = chunkCid(bytes)
    expect(() => verifyChunk(cid, bytes)).not.toThrow()
    expect(() => verifyChunk(cid, new Uint8Array([1, 2, 4]))).toThrow(ChunkHashMismatchError)
  })
})
