/**
 * A chunk read back from a store, checked before it is handed out: "every chunk is
 * verified before it is stored or served", and a disk can change bytes after they were
 * stored (bit rot, a segment cut short under a running store).
 */
import type { CID } from 'multiformats/cid'
import { equalBytes } from '../content/cid.ts'
import type { Hasher } from './index.ts'

/** What {@link readAndCheck} returns for bytes that are not the chunk's. */
export const CORRUPT = Symbol('corrupt')

/**
 * Reads chunk `cid` with `read` and, given a `hasher`, hashes it. Returns `undefined` when
 * the store no longer has the chunk, {@link CORRUPT} when its bytes are not the chunk's
 * (or the file ends before the chunk does: `read` threw a `ChunkStoreCorruptError`).
 * @param hasher `undefined`: the bytes are returned unhashed
 */
export async function readAndCheck(
  cid: CID,
  read: () => Promise<Uint8Array | undefined>,
  hasher: Hasher | undefined,
): Promise<Uint8Array | typeof CORRUPT | undefined> {
  let bytes: Uint8Array | undefined
  try {
    bytes = await read()
  } catch (err) {
    // the file ends before the chunk does: its bytes are gone
    if ((err as Error).name === 'ChunkStoreCorruptError') return CORRUPT
    throw err
  }
  if (bytes === undefined || hasher === undefined) return bytes
  const { digest } = await hasher.hash(bytes)
  return equalBytes(digest, cid.multihash.digest) ? bytes : CORRUPT
}
