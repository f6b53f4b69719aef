/**
 * {@link FsChunkStore.addInPlace}'s write path: consecutive chunks that a bulk writer (the
 * origin's ingest, on a hash worker) writes itself straight into one run of the active
 * segment (with `directIo` and a buffer from the store, without the event loop touching
 * the bytes), then recorded one by one. No intent record: a crash before the index
 * entries leaves dead space that compaction reclaims, never a visible chunk. A chunk
 * stored already keeps its old copy; the new one is dead space too.
 */
import type { CID } from 'multiformats/cid'
import { chunkCidFromDigest } from '../content/cid.ts'
import { ChunkStoreCorruptError } from '../errors.ts'
import type { ChunkTarget } from './index.ts'
import type { Location, Segments } from './segments.ts'

/** Writes chunks at a target and reports them with each one's digest (see `ChunkStore.addInPlace`). */
export type ChunkFill = (target: ChunkTarget) => Promise<{ bytes: Uint8Array; digests: Uint8Array[] }>

/** What {@link writeInPlace} writes into and records with: the store's own. */
export interface InPlaceWriteComponents {
  /** The store's segments, loaded. */
  segments: Segments
  /** fdatasync the run before its chunks are recorded. */
  fsync: boolean
  /** Room for `length` bytes in the active segment (the store's, which keeps compaction in pace). */
  allocate: (length: number) => Location
  /**
   * Records chunk `key`, already written at `l`, unless it is stored or being stored
   * already; returns whether it did.
   */
  commit: (key: string, l: Location) => Promise<boolean>
}

/**
 * Checks that `lengths` are whole chunk lengths that add up to `bytes`.
 * @throws RangeError when they do not
 */
export function checkLengths(bytes: Uint8Array, lengths: number[]): void {
  const size = lengths.reduce((a, b) => a + b, 0)
  if (
    lengths.length === 0 ||
    lengths.some((n) => !Number.isSafeInteger(n) || n < 1) ||
    size !== bytes.byteLength
  ) {
    throw new RangeError(
      `chunk lengths ${lengths.join(',')} do not add up to the ${bytes.byteLength}-byte buffer`,
    )
  }
}

/**
 * Has `fill` write `bytes` (chunks of `lengths`) into a new run of the active segment,
 * then records each chunk; room for them is the caller's to reserve. The chunks recorded
 * stay even when another fails (they are complete and verified); the rest is dead space.
 * Returns their CIDs.
 */
export async function writeInPlace(
  c: InPlaceWriteComponents,
  bytes: Uint8Array,
  lengths: number[],
  fill: ChunkFill,
): Promise<CID[]> {
  const run = c.allocate(bytes.byteLength)
  const parts: Location[] = []
  for (let offset = run.offset, i = 0; i < lengths.length; offset += lengths[i++]) {
    parts.push({ segment: run.segment, offset, length: lengths[i] })
  }
  let digests: Uint8Array[]
  try {
    digests = await fillRun(c, run, bytes, fill)
    if (digests.length !== lengths.length) {
      throw new ChunkStoreCorruptError(`got ${digests.length} digests for ${lengths.length} chunks`)
    }
  } catch (err) {
    await c.segments.release(run)
    throw err
  }
  const cids = digests.map((d) => chunkCidFromDigest(d))
  const settled = await Promise.allSettled(
    cids.map(async (cid, i) => {
      const committed = await c.commit(cid.toString(), parts[i])
      if (!committed) await c.segments.release(parts[i]) // stored already: this copy is dead space
    }),
  )
  const failed = settled.find((r) => r.status === 'rejected')
  if (failed !== undefined) {
    // the ones recorded stay (they are complete and verified); the rest is dead space
    for (const [i, r] of settled.entries()) if (r.status === 'rejected') await c.segments.release(parts[i])
    throw failed.reason
  }
  return cids
}

/** Lets `fill` write `bytes` at `run`; returns the digests it reports. */
async function fillRun(
  c: InPlaceWriteComponents,
  run: Location,
  bytes: Uint8Array,
  fill: ChunkFill,
): Promise<Uint8Array[]> {
  const target = await c.segments.target(run, bytes, c.fsync)
  try {
    const filled = await fill({ fd: target.fd, position: run.offset })
    if (filled.bytes.byteLength !== run.length) {
      throw new ChunkStoreCorruptError(`wrote ${filled.bytes.byteLength} of ${run.length} bytes`)
    }
    await target.done(true)
    return filled.digests
  } finally {
    await target.done(false) // no-op once done
  }
}
