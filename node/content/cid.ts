/**
 * Chunk and manifest identifiers: CIDv1 with a BLAKE3-256 multihash (code 0x1e).
 * Chunks use the `raw` codec, manifests `dag-cbor`.
 */
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { BLAKE3_CODE, DAG_CBOR_CODEC, RAW_CODEC } from '../constants.ts'
import { ChunkHashMismatchError, InvalidCidError } from '../errors.ts'
import { blake3 } from './blake3.ts'

export { blake3, CID }

/** The CID of a chunk given its 32-byte BLAKE3 digest. */
export function chunkCidFromDigest(digest: Uint8Array): CID {
  return CID.createV1(RAW_CODEC, Digest.create(BLAKE3_CODE, digest))
}

/** The CID of a chunk's bytes. */
export function chunkCid(bytes: Uint8Array): CID {
  return chunkCidFromDigest(blake3(bytes))
}

/** The CID of an encoded manifest's bytes. */
export function manifestCid(bytes: Uint8Array): CID {
  return CID.createV1(DAG_CBOR_CODEC, Digest.create(BLAKE3_CODE, blake3(bytes)))
}

/**
 * Parses a CID string and checks it is a chunk (raw) or manifest (dag-cbor) id
 * hashed with BLAKE3-256.
 */
export function parseCid(text: string, kind: 'chunk' | 'manifest' | 'any' = 'any'): CID {
  let cid: CID
  try {
    cid = CID.parse(text)
  } catch (err) {
    throw new InvalidCidError(
      `malformed CID ${JSON.stringify(text.slice(0, 100))}: ${(err as Error).message}`,
    )
  }
  return checkCid(cid, kind)
}

/** Checks a decoded CID is a v1 BLAKE3 id of the wanted kind. */
export function checkCid(cid: CID, kind: 'chunk' | 'manifest' | 'any' = 'any'): CID {
  if (cid.version !== 1 || cid.multihash.code !== BLAKE3_CODE || cid.multihash.size !== 32) {
    throw new InvalidCidError(`CID ${cid.toString()} is not a CIDv1 with a BLAKE3-256 multihash`)
  }
  const codec = kind === 'chunk' ? RAW_CODEC : kind === 'manifest' ? DAG_CBOR_CODEC : undefined
  if (codec !== undefined && cid.code !== codec) {
    throw new InvalidCidError(`CID ${cid.toString()} is not a ${kind} id`)
  }
  if (codec === undefined && cid.code !== RAW_CODEC && cid.code !== DAG_CBOR_CODEC) {
    throw new InvalidCidError(`CID ${cid.toString()} has an unknown codec 0x${cid.code.toString(16)}`)
  }
  return cid
}

/** True when `bytes` hash to `cid`'s digest. */
export function matchesCid(cid: CID, bytes: Uint8Array): boolean {
  return equalBytes(blake3(bytes), cid.multihash.digest)
}

/** Throws {@link ChunkHashMismatchError} unless `bytes` hash to `cid`. */
export function verifyChunk(cid: CID, bytes: Uint8Array): void {
  if (!matchesCid(cid, bytes)) throw new ChunkHashMismatchError(`bytes do not match chunk ${cid.toString()}`)
}

/** Constant-length byte comparison. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false
  let diff = 0
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i]
  return diff === 0
}
