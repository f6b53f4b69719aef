/** Bit rot on purpose: what a failing disk does to a stored chunk, for the scrub tests. */
import { open } from 'node:fs/promises'
import type { CID } from 'multiformats/cid'
import type { DandelionNode } from '../../../node/index.ts'
import type { FsChunkStore } from '../../../node/store/index.ts'

/** Flips one bit of chunk `cid` where the node's on-disk store keeps it. */
export async function rot(node: DandelionNode, cid: CID): Promise<void> {
  const where = (node.store as FsChunkStore).locate(cid)!
  const fh = await open(where.path, 'r+')
  try {
    const byte = new Uint8Array(1)
    await fh.read(byte, 0, 1, where.offset + 100)
    byte[0] ^= 0x01
    await fh.write(byte, 0, 1, where.offset + 100)
  } finally {
    await fh.close()
  }
}
