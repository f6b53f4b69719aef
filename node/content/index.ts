/**
 * The content model every service shares: chunk ids, the chunker, the hash pool and
 * signed manifests. It imports nothing else of Dandelion's.
 */
export {
  type Blake3Hasher,
  type Blake3Implementation,
  blake3Implementation,
  blake3Wasm,
  createBlake3Hasher,
} from './blake3.ts'
export { checkChunkSize, chunkCount, chunkStream } from './chunker.ts'
export {
  blake3,
  CID,
  checkCid,
  chunkCid,
  chunkCidFromDigest,
  equalBytes,
  manifestCid,
  matchesCid,
  parseCid,
  verifyChunk,
} from './cid.ts'
export {
  HashPool,
  type HashPoolInit,
  type ReadAndHashOptions,
  type ReadAndHashResult,
  type WriteTarget,
} from './hash-pool.ts'
export {
  CONTENT_TYPES,
  type ContentType,
  checkResourceName,
  createManifest,
  decodeManifest,
  isMimeType,
  type Manifest,
  type ManifestFields,
  type VerifyManifestOptions,
  verifyManifest,
} from './manifest.ts'
export { type ByteRange, parseRange } from './range.ts'
