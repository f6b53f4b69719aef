/**
 * The line the daemon says at start when its store's disk already has less free space than
 * `--min-free-disk-bytes` keeps: the node evicts unpinned content as it needs room, and
 * refuses new chunks once nothing more can go, so an operator learns why up front.
 */
import { statfs } from 'node:fs/promises'

/** The `low-disk` line, or `undefined` when the disk has room (or cannot be asked). */
export async function lowDiskLine(
  dir: string,
  minFreeDiskBytes: number,
): Promise<Record<string, string | number> | undefined> {
  if (minFreeDiskBytes <= 0) return undefined
  const s = await statfs(dir).catch(() => undefined)
  if (s === undefined) return undefined
  const freeBytes = s.bavail * s.bsize
  if (freeBytes >= minFreeDiskBytes) return undefined
  return {
    event: 'low-disk',
    dir,
    freeBytes,
    minFreeDiskBytes,
    message:
      `the disk holding ${dir} has ${freeBytes} bytes free, less than the ${minFreeDiskBytes} this node keeps free: ` +
      'it evicts the content no release needs any more as it needs room, and places nothing new once none is left. ' +
      'Free space on that disk, or lower --min-free-disk-bytes (DANDELION_MIN_FREE_DISK_BYTES, "minFreeDiskBytes")',
  }
}
