/**
 * Manifests: the signed, deterministic description of one version of a file.
 *
 * Encoding is DAG-CBOR (canonical: sorted map keys, shortest integers), so the same
 * manifest always has the same bytes and the same CID. The signature covers a domain
 * prefix plus the encoding of every field but `signature` itself.
 */

import * as dagCbor from '@ipld/dag-cbor'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import {
  MANIFEST_VERSION,
  MAX_CONTENT_SIZE_BYTES,
  MAX_MANIFEST_BYTES,
  MAX_NAME_LENGTH,
} from '../constants.ts'
import {
  type InvalidCidError,
  type InvalidConfigError,
  InvalidManifestError,
  ManifestSignatureError,
  UnsupportedManifestVersionError,
} from '../errors.ts'
import { checkChunkSize, chunkCount } from './chunker.ts'
import { checkCid, equalBytes, manifestCid, matchesCid } from './cid.ts'

/** Kinds of content the network carries. */
export const CONTENT_TYPES = ['video', 'interactive', 'app', 'image', 'file'] as const
/** One of {@link CONTENT_TYPES}. */
export type ContentType = (typeof CONTENT_TYPES)[number]

/** The fields of a manifest, before signing. */
export interface ManifestFields {
  /** Resource name, e.g. `grade3-math-lesson-07`. */
  name: string
  type: ContentType
  /** MIME type served to players, e.g. `video/mp4`. */
  mime: string
  /** File size in bytes. */
  size: number
  /** Chunk size in bytes (a power of two, 256 KiB to 4 MiB). */
  chunkSize: number
  /** Chunk CIDs in file order. */
  chunks: CID[]
  /** Creation time, milliseconds since the epoch. */
  createdAt: number
}

/** A decoded manifest with its signer, signature, encoding and identity. */
export interface Manifest extends ManifestFields {
  version: number
  /** The signing origin's public key. */
  origin: PublicKey
  signature: Uint8Array
  /** The canonical encoding. */
  bytes: Uint8Array
  /** CID of {@link bytes}: the version's identity. */
  cid: CID
}

/** Options of {@link verifyManifest}. */
export interface VerifyManifestOptions {
  /** The CID the bytes were requested under; they must hash to it. */
  cid?: CID
  /** Origin public keys to trust. When given, a manifest signed by any other key is rejected. */
  trustedKeys?: PublicKey[]
}

const SIGNING_DOMAIN = new TextEncoder().encode('dandelion/manifest/v1\n')
const MIME_RE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i
const FIELD_NAMES = new Set([
  'version',
  'name',
  'type',
  'mime',
  'size',
  'chunkSize',
  'chunks',
  'createdAt',
  'origin',
  'signature',
])

/** True when `s` looks like a MIME type (`type/subtype`). */
export function isMimeType(s: string): boolean {
  return MIME_RE.test(s)
}

/** Checks a resource name: 1–200 characters, no control characters or slashes at the ends. */
export function checkResourceName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new InvalidManifestError(`name must be 1 to ${MAX_NAME_LENGTH} characters`)
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new InvalidManifestError('name has control characters')
  return name
}

function checkFields(f: Record<string, unknown>): ManifestFields {
  const name = checkResourceName(f.name)
  if (typeof f.type !== 'string' || !(CONTENT_TYPES as readonly string[]).includes(f.type)) {
    throw new InvalidManifestError(`type must be one of ${CONTENT_TYPES.join(', ')}`)
  }
  if (typeof f.mime !== 'string' || !isMimeType(f.mime)) throw new InvalidManifestError('invalid MIME type')
  if (
    !Number.isSafeInteger(f.size) ||
    (f.size as number) < 0 ||
    (f.size as number) > MAX_CONTENT_SIZE_BYTES
  ) {
    throw new InvalidManifestError(`size must be an integer from 0 to ${MAX_CONTENT_SIZE_BYTES}`)
  }
  try {
    checkChunkSize(f.chunkSize as number)
  } catch (err) {
    throw new InvalidManifestError((err as InvalidConfigError).message)
  }
  if (!Array.isArray(f.chunks)) throw new InvalidManifestError('chunks must be a list')
  const expected = chunkCount(f.size as number, f.chunkSize as number)
  if (f.chunks.length !== expected) {
    throw new InvalidManifestError(
      `chunk count ${f.chunks.length} does not add up: ${f.size} bytes in ${f.chunkSize}-byte chunks is ${expected}`,
    )
  }
  for (const c of f.chunks) {
    const cid = CID.asCID(c)
    if (cid === null) throw new InvalidManifestError('chunks must be CIDs')
    try {
      checkCid(cid, 'chunk')
    } catch (err) {
      throw new InvalidManifestError((err as InvalidCidError).message)
    }
  }
  if (!Number.isSafeInteger(f.createdAt) || (f.createdAt as number) < 0) {
    throw new InvalidManifestError('createdAt must be a non-negative integer (ms)')
  }
  return {
    name,
    type: f.type as ContentType,
    mime: f.mime,
    size: f.size as number,
    chunkSize: f.chunkSize as number,
    chunks: f.chunks as CID[],
    createdAt: f.createdAt as number,
  }
}

function unsignedEncoding(f: ManifestFields, origin: Uint8Array): Uint8Array {
  const body = dagCbor.encode({
    version: MANIFEST_VERSION,
    name: f.name,
    type: f.type,
    mime: f.mime,
    size: f.size,
    chunkSize: f.chunkSize,
    chunks: f.chunks,
    createdAt: f.createdAt,
    origin,
  })
  const out = new Uint8Array(SIGNING_DOMAIN.byteLength + body.byteLength)
  out.set(SIGNING_DOMAIN)
  out.set(body, SIGNING_DOMAIN.byteLength)
  return out
}

/** Builds and signs a manifest with the origin's ed25519 key. */
export async function createManifest(fields: ManifestFields, key: PrivateKey): Promise<Manifest> {
  const checked = checkFields({ ...fields })
  const origin = publicKeyToProtobuf(key.publicKey)
  const signature = await key.sign(unsignedEncoding(checked, origin))
  const bytes = dagCbor.encode({ ...checked, version: MANIFEST_VERSION, origin, signature })
  return {
    ...checked,
    version: MANIFEST_VERSION,
    origin: key.publicKey,
    signature,
    bytes,
    cid: manifestCid(bytes),
  }
}

/**
 * Decodes a manifest and checks its structure. This does NOT check the signature:
 * call {@link verifyManifest} before trusting anything in it.
 */
export function decodeManifest(bytes: Uint8Array): Manifest {
  if (bytes.byteLength > MAX_MANIFEST_BYTES) {
    throw new InvalidManifestError(`manifest of ${bytes.byteLength} bytes exceeds ${MAX_MANIFEST_BYTES}`)
  }
  let raw: unknown
  try {
    raw = dagCbor.decode(bytes)
  } catch (err) {
    throw new InvalidManifestError(`manifest is not valid DAG-CBOR: ${(err as Error).message}`, {
      cause: err,
    })
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InvalidManifestError('manifest must be a map')
  }
  const f = raw as Record<string, unknown>
  if (f.version !== MANIFEST_VERSION) throw new UnsupportedManifestVersionError(f.version)
  for (const k of Object.keys(f)) {
    if (!FIELD_NAMES.has(k)) throw new InvalidManifestError(`unknown manifest field ${JSON.stringify(k)}`)
  }
  const fields = checkFields(f)
  if (!(f.origin instanceof Uint8Array)) throw new InvalidManifestError('origin key missing')
  if (!(f.signature instanceof Uint8Array)) throw new InvalidManifestError('signature missing')
  let origin: PublicKey
  try {
    origin = publicKeyFromProtobuf(f.origin)
  } catch (err) {
    throw new InvalidManifestError('origin key is not a valid public key', { cause: err })
  }
  if (origin.type !== 'Ed25519') throw new InvalidManifestError('origin key must be ed25519')
  return {
    ...fields,
    version: MANIFEST_VERSION,
    origin,
    signature: f.signature,
    bytes,
    cid: manifestCid(bytes),
  }
}

/**
 * Decodes a manifest and verifies it: the bytes hash to the requested CID, the
 * signature verifies against the embedded origin key, and that key is trusted.
 * Every node and device calls this before fetching anything a manifest lists.
 */
export async function verifyManifest(
  bytes: Uint8Array,
  options: VerifyManifestOptions = {},
): Promise<Manifest> {
  // hash before decoding: bytes that are not the manifest asked for (a peer sending junk)
  // cost one hash, not the decoding of up to MAX_MANIFEST_BYTES of CBOR
  if (options.cid !== undefined && !matchesCid(options.cid, bytes))
    throw new InvalidManifestError(`manifest bytes do not hash to ${options.cid.toString()}`)
  const m = decodeManifest(bytes)
  const wanted = options.cid?.toString()
  if (wanted !== undefined && m.cid.toString() !== wanted) {
    throw new InvalidManifestError(`manifest bytes hash to ${m.cid.toString()}, not ${wanted}`)
  }
  const originBytes = publicKeyToProtobuf(m.origin)
  const ok = await m.origin.verify(unsignedEncoding(m, originBytes), m.signature)
  if (!ok) throw new ManifestSignatureError('manifest signature does not verify')
  if (options.trustedKeys !== undefined) {
    const trusted = options.trustedKeys.some((k) => equalBytes(publicKeyToProtobuf(k), originBytes))
    if (!trusted) throw new ManifestSignatureError('manifest is signed by an untrusted origin key')
  }
  return m
}
